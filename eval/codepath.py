"""Which of qa's modules a question runs through: ``python -m eval.codepath [QUESTION]``.

Opens the seeds' index, asks once to warm up (so that loading is not counted), then records,
with ``sys.setprofile``, the module of every Python function of ``qa`` called while
``Assistant.ask`` answers the question again, and prints them with their count.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

QUESTION = "Where was the road transport agreement signed?"


def modules_on_path(assistant, question: str) -> list[str]:
    """The ``qa`` modules whose functions run while ``assistant`` answers ``question``."""
    seen: set[str] = set()

    def profile(frame, event, arg):
        if event == "call":
            name = frame.f_globals.get("__name__", "")
            if name == "qa" or name.startswith("qa."):
                seen.add(name)

    sys.setprofile(profile)
    try:
        assistant.ask(question)
    finally:
        sys.setprofile(None)
    return sorted(seen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.codepath", description=__doc__)
    parser.add_argument("question", nargs="?", default=QUESTION)
    args = parser.parse_args(argv)
    from qa import Assistant

    with Assistant.from_folder() as assistant:
        assistant.ask(args.question)  # warm: the reader, the encoder and the caches load
        found = modules_on_path(assistant, args.question)
    print("\n".join(found))
    print(f"{len(found)} modules on the path of one question")
    return 0


if __name__ == "__main__":
    sys.exit(main())
