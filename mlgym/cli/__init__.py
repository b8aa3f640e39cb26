"""Command-line interface: every argparse, print and rich call lives in this package.

``mlgym`` (the console script) and ``python -m mlgym.cli`` run :func:`main`.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mlgym`` command line."""
    from mlgym.cli.app import main as run

    return run(argv)
