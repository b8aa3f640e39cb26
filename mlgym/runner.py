"""``python -m mlgym.runner``: run one agent on one task (see :mod:`mlgym.runs.runner`)."""

from __future__ import annotations

from mlgym.runs.runner import build_parser, main, run

__all__ = ["build_parser", "main", "run"]

if __name__ == "__main__":
    raise SystemExit(main())
