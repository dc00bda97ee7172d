"""``python app.py``: the qa web chat over ``seeds/`` (or ``--folder``) on 127.0.0.1:7860."""

from __future__ import annotations

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
