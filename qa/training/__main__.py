"""``python -m qa.training reader [...]``: the reader's training command (``cli.main``)."""

import sys

from .cli import main

sys.exit(main())
