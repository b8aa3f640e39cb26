"""Setting up an episode of :class:`mlgym.env.core.MLGymEnv`: options, log folder, resume, workspace, quota, sandbox.

The env's ``reset`` calls these in order: :func:`load_prior` (what a resumed run continues),
:func:`pick_log_dir`, :func:`set_aside_unstarted` / :func:`drop_stale_result`, :func:`fresh_dir` and
:func:`mount_quota` for the workspace, :func:`run_options` and :func:`link_mounts` for the sandbox.
:func:`eval_options` are the sandbox options scoring uses (a fresh sandbox, see :mod:`mlgym.env.finish`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from mlgym.core.errors import MLGymError
from mlgym.runlog.trace import TRACE, Trace, load
from mlgym.sandbox import Limits, Mount
from mlgym.sandbox.base import Capabilities
from mlgym.sandbox.quota import Quota
from mlgym.tasks.data import link_tree
from mlgym.tasks.spec import TaskSpec

__all__ = ["EnvOptions", "drop_stale_result", "episode_limits", "eval_options", "fresh_dir", "link_mounts", "load_prior",
           "mount_quota", "new_run_id", "pick_log_dir", "run_options", "set_aside_unstarted", "started"]


@dataclasses.dataclass
class EnvOptions:
    """:class:`~mlgym.env.core.MLGymEnv`'s keyword arguments (they mirror the runner's flags); None: the task's own limit."""

    sandbox: str = "local"
    log_dir: str | Path | None = None
    work_dir: str | Path | None = None
    python: str | None = None
    max_steps: int | None = None
    max_time: float | None = None
    exec_timeout: float | None = None
    device: str | None = None
    memory_mb: int | None = None
    cpus: float | None = None
    tools: Sequence[str] | None = None
    sandbox_options: dict[str, Any] | None = None
    fsync: bool = True
    render_mode: str | None = None
    reward_mode: str = "final"


def episode_limits(task: TaskSpec, memory_mb: int | None = None, cpus: float | None = None) -> Limits:
    """The sandbox limits of an episode: the task's, with the env's memory and CPU overrides."""
    tl = task.limits
    return Limits(
        timeout=tl.exec_timeout, memory_mb=memory_mb or tl.memory_mb, max_processes=tl.max_processes,
        output_bytes=tl.output_bytes, network=tl.network, cpus=cpus, cores=tl.cores or None,
    )


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def started(log_dir: Path) -> bool:
    """Whether ``log_dir`` holds a run that got as far as its reset record."""
    try:
        return load(log_dir).reset is not None
    except FileNotFoundError:
        return False


def load_prior(resume: Path, task_name: str) -> Trace | None:
    """The trace to continue in ``resume``, or None when nothing was recorded there yet."""
    if not resume.is_dir():
        raise MLGymError(f"cannot resume: {resume} is not a folder")
    try:
        prior = load(resume)
    except FileNotFoundError:
        return None  # killed before the trace was made: nothing to continue
    reset = prior.reset
    if reset is None:
        return None
    if reset.get("task") != task_name:
        raise MLGymError(f"cannot resume {resume}: it is a run of task {reset.get('task')!r}, not {task_name!r}")
    if prior.finished:
        raise MLGymError(f"cannot resume {resume}: the run already finished ({(prior.result or {}).get('reason')})")
    return prior


def pick_log_dir(base: Path | None, task_name: str, run_id: str, first_reset: bool) -> Path:
    """The episode's log folder: ``base`` for the first episode there, a sibling ``<base>.<run_id>`` after."""
    if base is None:
        return Path("runs") / task_name / run_id
    if first_reset and not started(base):
        return base
    return base.parent / f"{base.name}.{run_id}"


def set_aside_unstarted(log_dir: Path, log: logging.Logger) -> None:
    """A trace without a reset record (killed while starting) is kept aside, not appended to."""
    path = log_dir / TRACE
    if path.exists():
        aside = log_dir / f"{TRACE}.unstarted-{int(time.time())}"
        os.replace(path, aside)
        log.warning("%s had no reset record (killed while starting): moved to %s; starting afresh", path, aside.name)


def drop_stale_result(log_dir: Path) -> None:
    """A result.json scored from a snapshot of the unfinished run is out of date once it goes on."""
    path = log_dir / "result.json"
    try:
        stale = json.loads(path.read_text()).get("episode_finished") is not True
    except (OSError, ValueError, AttributeError):
        stale = path.exists()
    if stale:
        path.unlink(missing_ok=True)


def fresh_dir(path: Path) -> Path:
    """An empty new folder at ``path``; a leftover there that cannot be removed gets a sibling."""
    for i in range(100):
        cand = path if i == 0 else path.with_name(f"{path.name}.{i}")
        if cand.exists():
            shutil.rmtree(cand, ignore_errors=True)
        try:
            cand.mkdir(parents=True)
            return cand
        except FileExistsError:
            continue
    raise MLGymError(f"cannot make a fresh workspace at {path}: 100 leftovers there")


def mount_quota(workspace: Path, size_mb: int) -> Quota:
    """The workspace size quota (:mod:`mlgym.sandbox.quota`); a host that cannot mount one gets a soft one."""
    try:
        return Quota.mount(workspace, size_mb)
    except ValueError as e:  # not empty: a leftover we could not clear
        raise MLGymError(f"cannot set up the workspace quota: {e}") from None


def run_options(task: TaskSpec, caps: Capabilities, *, sandbox_options: dict[str, Any], env_opts: dict[str, Any],
                seed: int | None, python: str, run_id: str) -> dict[str, Any]:
    """The keyword options of the episode's sandbox (:func:`mlgym.sandbox.make_sandbox`)."""
    env_vars = {"MLGYM_SEED": str(seed if seed is not None else 0), "PYTHONHASHSEED": str(seed or 0)}
    opts = {**sandbox_options, "env": env_vars}
    opts["hide"] = task.hide
    opts.update(env_opts)
    if caps.host_python:
        opts["python"] = python
    if caps.labels:
        opts.setdefault("run_id", run_id)
        opts.setdefault("task", task.name)
    return opts


def eval_options(task: TaskSpec, caps: Capabilities, *, sandbox_options: dict[str, Any], env_opts: dict[str, Any],
                 python: str, run_id: str) -> dict[str, Any]:
    """The sandbox options of scoring (and of dense validation): the episode's, without the device."""
    opts = {k: v for k, v in sandbox_options.items() if k not in ("device",)}
    opts.update(env_opts)
    if caps.host_python:
        opts["python"] = python
    if caps.labels:
        opts.update(run_id=run_id + "-eval", task=task.name)
    return opts


def link_mounts(mounts: Sequence[Mount], inside: Sequence[str], workspace: Path, *, copy: bool) -> None:
    """Put the data mounts that live inside the workspace (e.g. ``data/``) in place before the sandbox starts.

    Hard links are safe where the sandbox mounts data/ read-only over them; a plain subprocess (possibly
    root) could write through a link into the cache: ``copy``."""
    for m in mounts:
        if m.target in inside and (m.mirror or copy):
            link_tree(m.source, workspace / m.target, copy=copy)
        elif m.target in inside:  # bound only (Mount.mirror): just its mount point
            (workspace / m.target).mkdir(parents=True, exist_ok=True)
