"""mlgym tasks over OpenEnv's protocol (``mlgym serve``), built on the ``openenv`` package itself.

    mlgym serve --task digits --port 8000 [--host 127.0.0.1] [--log-dir runs/serve] [--ray ADDRESS]

    from openenv.core import GenericEnvClient
    env = GenericEnvClient(base_url="http://127.0.0.1:8000")       # sync outside an event loop
    r = env.reset(seed=0)                # r.observation["text"]: the task; ["info"]["tools"]: schemas
    r = env.step({"name": "list_files", "arguments": {}})           # r.observation["text"], r.reward, r.done
    r = env.step({"name": "final_answer", "arguments": {"final_answer": "done"}})   # done, the episode's reward

OpenEnv's pieces, not a re-implementation: :class:`ToolAction`, :class:`TextObservation` and
:class:`EpisodeState` are its ``Action`` / ``Observation`` / ``State`` models, :class:`MLGymEnvironment`
its ``Environment``, and :func:`build_app` its ``create_fastapi_app`` (routes ``/ws``, ``/health``,
``/schema``, ...).  One OpenEnv session (one WebSocket on ``/ws``: what ``GenericEnvClient`` opens)
is one :class:`MLGymEnvironment`, one ``MLGymEnv`` with its own sandbox and workspace, and its
runs' log folder ``<log-dir>/s<NNNN>`` (result.json and the trace, as in process; a second reset in
the same session gets MLGymEnv's ``<dir>.<run_id>`` sibling).  Sessions run at once, each in its
own thread (OpenEnv's executor per session), up to ``max_sessions``; beyond that OpenEnv answers
``CAPACITY_REACHED``.  OpenEnv's HTTP ``/reset`` and ``/step`` routes are stateless (a fresh env per
request), so multi-step episodes go over the WebSocket.  With ``pool`` (an
:class:`~mlgym.runs.envpool.EnvPool`) every session's env is a Ray actor on the cluster's CPU
nodes, and the server holds no sandbox itself.

Actions are tool calls ``{"name", "arguments"}``; a tool's display name (``List Files``) and its
function name (``list_files``) are both accepted, as by ``env.step``.  ``info`` (JSON-safe) holds
the tools' schemas after reset and ``result`` (what result.json says) when the episode ends.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any, Callable

from openenv.core.env_server.http_server import create_fastapi_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field

__all__ = ["EpisodeState", "MLGymEnvironment", "TextObservation", "ToolAction", "build_app", "env_maker"]

# Observations can be long (MLGymEnv clips at 2,000,000 characters); uvicorn's default frame limit is 16 MiB.
WS_MAX_SIZE = 64 * 2**20


class ToolAction(Action):  # type: ignore[misc]
    """An mlgym action: a tool call.  Wire form: ``{"name": "List Files", "arguments": {...}}``."""

    name: str = Field(description="the tool's name ('List Files') or function name ('list_files')")
    arguments: dict[str, Any] = Field(default_factory=dict, description="the tool's arguments")


class TextObservation(Observation):  # type: ignore[misc]
    """``text``: the tool's observation (the task text after reset); ``info``: the env's info (JSON-safe);
    ``truncated``: the episode ended by a limit (``done`` is terminated or truncated)."""

    text: str = ""
    info: dict[str, Any] = Field(default_factory=dict)
    truncated: bool = False


class EpisodeState(State):  # type: ignore[misc]
    """OpenEnv's state (``episode_id``, ``step_count``) plus the task, the run id and its log folder."""

    task: str = ""
    run_id: str = ""
    log_dir: str | None = None


def _json_safe(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


class _Sessions:
    """Log folders ``<root>/s<NNNN>``, numbered on from the ones already there (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._next = 0

    def folder(self) -> Path:
        with self._lock:
            while (path := self.root / f"s{self._next:04d}").exists():
                self._next += 1
            self._next += 1
            path.mkdir(parents=True)
            return path


class MLGymEnvironment(Environment):  # type: ignore[misc]
    """OpenEnv ``Environment`` over one gymnasium env built by ``make_env(log_dir)`` (tool-call actions)."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # each session owns its env, workspace and log folder

    def __init__(self, make_env: Callable[[Path], Any], sessions: _Sessions, task: str) -> None:
        super().__init__()
        self.task = task
        self._make_env = make_env
        self._sessions = sessions
        self._env: Any = None
        self._state = EpisodeState(task=task)

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> TextObservation:
        if self._env is None:
            self._env = self._make_env(self._sessions.folder())
        obs, info = self._env.reset(seed=seed, options=kwargs.get("options"))
        self._state = EpisodeState(task=self.task, episode_id=episode_id or str(info.get("run_id", "")), step_count=0,
                                   run_id=str(info.get("run_id", "")), log_dir=info.get("log_dir"))
        return TextObservation(text=str(obs), info=_json_safe(info), done=False, reward=0.0)

    def step(self, action: ToolAction, timeout_s: float | None = None, **kwargs: Any) -> TextObservation:
        if self._env is None:
            return TextObservation(text="EXECUTION_ERROR: reset() first", done=True, reward=0.0)
        obs, reward, terminated, truncated, info = self._env.step({"name": action.name, "arguments": action.arguments})
        self._state.step_count += 1
        return TextObservation(text=str(obs), info=_json_safe(info), reward=float(reward),
                               done=bool(terminated or truncated), truncated=bool(truncated))

    @property
    def state(self) -> EpisodeState:
        return self._state

    def close(self) -> None:
        if self._env is not None:
            env, self._env = self._env, None
            env.close()


def env_maker(task: str, *, work_dir: str | Path = "workspaces", pool: Any = None, **env_kwargs: Any) -> Callable[[Path], Any]:
    """``make(log_dir)``: an ``MLGymEnv`` for ``task`` here, or in a Ray actor of ``pool``."""
    work = Path(work_dir).resolve()

    def make(log_dir: Path) -> Any:
        if pool is not None:
            return pool.make(task=task, log_dir=log_dir, work_dir=work, **env_kwargs)
        from mlgym.env.core import MLGymEnv

        return MLGymEnv(task=task, log_dir=log_dir, work_dir=work, **env_kwargs)

    return make


def build_app(task: str, *, log_dir: str | Path = "runs/serve", max_sessions: int = 32,
              make_env: Callable[[Path], Any] | None = None, **env_kwargs: Any) -> Any:
    """OpenEnv's FastAPI app serving ``task`` (``env_kwargs`` as for ``MLGymEnv``/:func:`env_maker`)."""
    from mlgym.runs import baseline

    if make_env is None:
        if baseline.missing(task):  # measured once here, not by every session at the same time
            baseline.measure(task, sandbox=env_kwargs.get("sandbox", "local"), python=env_kwargs.get("python"))
        make_env = env_maker(task, **env_kwargs)
    factory = functools.partial(MLGymEnvironment, make_env, _Sessions(Path(log_dir).resolve()), task)
    return create_fastapi_app(factory, ToolAction, TextObservation, max_concurrent_envs=max_sessions,
                              env_name=f"mlgym-{task}", state_cls=EpisodeState)


def serve(app: Any, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning") -> None:
    """Runs ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, ws_max_size=WS_MAX_SIZE)
