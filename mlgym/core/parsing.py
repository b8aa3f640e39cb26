"""The command line's argument parser: a mistake is one line, not the whole usage.

``prog: error: argument --max-steps: expected a positive integer, got '-3' (see prog --help)``
and exit status 2; ``--help`` prints the full usage as usual.  Every mlgym command builds its
parser from :class:`Parser` (subcommands' parsers too: ``add_subparsers`` makes them of the
same class).
"""

from __future__ import annotations

import argparse
import difflib
from typing import Iterable, NoReturn

__all__ = ["Parser", "did_you_mean"]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` names, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
