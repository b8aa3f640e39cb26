"""A per-episode logger: each env writes its own episode's lines to ``<log_dir>/env.log``, and no other's.

The library never configures global logging.  An :class:`EpisodeLog` owns a private
:class:`logging.Logger` (not registered by name, so two envs in one process never share it)
at level INFO whose parent is ``mlgym.env``: the env's own lines go to its ``env.log`` and
propagate to whatever handlers the application put on ``mlgym`` or the root (the runner's
console).  Lines other ``mlgym`` modules log *while this episode is working in this thread*
(a snapshot warning, a sandbox note) reach the same file through a handler on the ``mlgym``
logger that accepts a record only when the context variable names this episode; at the
levels the application enabled (WARNING by default).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from pathlib import Path

__all__ = ["EPISODE_LOGGER", "EpisodeLog"]

EPISODE_LOGGER = "mlgym.env.episode"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_active: contextvars.ContextVar[object | None] = contextvars.ContextVar("mlgym_episode", default=None)


class _Mine(logging.Filter):
    """Records of other mlgym modules logged while this episode is active in this thread/context."""

    def __init__(self, token: object) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != EPISODE_LOGGER and _active.get() is self.token


class EpisodeLog:
    """The logger of one env; :meth:`attach` opens ``env.log`` in a log folder, :meth:`detach` closes it."""

    def __init__(self) -> None:
        self.logger = logging.Logger(EPISODE_LOGGER, logging.INFO)
        self.logger.parent = logging.getLogger("mlgym.env")
        self._token = object()
        self._file: logging.Handler | None = None
        self._shared: logging.Handler | None = None

    def attach(self, log_dir: Path) -> None:
        self.detach()
        handler = logging.FileHandler(Path(log_dir) / "env.log")
        handler.setFormatter(logging.Formatter(FORMAT))
        self.logger.addHandler(handler)
        self._file = handler
        # the same file, for what other mlgym modules log during this episode's calls
        shared = _Forward(handler)
        shared.addFilter(_Mine(self._token))
        logging.getLogger("mlgym").addHandler(shared)
        self._shared = shared

    def detach(self) -> None:
        if self._shared is not None:
            logging.getLogger("mlgym").removeHandler(self._shared)
            self._shared = None
        if self._file is not None:
            self.logger.removeHandler(self._file)
            self._file.close()
            self._file = None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """While inside, this context's mlgym log records also go to this episode's ``env.log``."""
        reset = _active.set(self._token)
        try:
            yield
        finally:
            _active.reset(reset)


class _Forward(logging.Handler):
    """Hands records to another handler (the episode's file), after this one's filters."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)
