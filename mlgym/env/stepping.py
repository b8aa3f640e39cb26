"""One action of :class:`mlgym.env.core.MLGymEnv`: parse, check, run, observe the changes, record.

Whatever goes wrong becomes an observation in the step's :class:`Outcome` (``ActionError:`` when it
is the agent's doing, see :func:`blame`; ``EnvError:`` otherwise) and exactly one trace record
(:func:`step_record`).  :func:`ending` says whether the step ended the episode, and why.
"""

from __future__ import annotations

import errno
import logging
import traceback
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from mlgym.core.errors import ActionError
from mlgym.core.safetext import printable
from mlgym.env.actions import parse_action
from mlgym.env.tools import ToolContext, lookup
from mlgym.runlog.records import StepRecord
from mlgym.runlog.snapshot import Snapshotter
from mlgym.sandbox.quota import Quota

__all__ = ["ASIDE_TOOLS", "QUOTA_GUARDED", "READ_ONLY_TOOLS", "Ending", "Outcome", "blame", "ending", "message", "observe",
           "quota_exceeded", "run_action", "safe_repr", "step_record"]

READ_ONLY_TOOLS = {"List Files", "Read File", "Inspect Script Lines", "Final Answer"}
QUOTA_GUARDED = {"Execute Script"}  # refused while the workspace is over its size quota
# Tools an agent may run between steps (an ``aside`` action, not a step): the research log of the
# research agent's mlgym profile, which MLAgentBench counts as steps only with --retrieval.
ASIDE_TOOLS = ("Append Summary to Research Log", "Retrieval from Research Log")


class Outcome:
    """What one step produced, filled in as it goes (so a failure anywhere still records it)."""

    def __init__(self) -> None:
        self.obs = ""
        self.name: str | None = None
        self.arguments: dict[str, Any] | None = None
        self.error: str | None = None
        self.kind = ""
        self.error_type: str | None = None
        self.traceback: str | None = None
        self.snapshot_error: str | None = None
        self.files: dict[str, str | None] = {}
        self.ends = False

    def fail(self, kind: str, message: str, exc: BaseException | None) -> None:
        self.kind, self.error = kind, message
        self.obs = f"{kind}: {message}"
        self.ends = False
        if exc is not None:
            self.error_type = type(exc).__name__
            if kind == "EnvError":
                self.traceback = "".join(traceback.format_exception(exc))[-20_000:]


# OSErrors an agent causes with a bad path or its own workspace (not the host's trouble).
_AGENT_ERRNOS = {
    errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP,
    errno.EEXIST, errno.ENOTEMPTY, errno.EINVAL, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EMLINK,
    errno.EROFS, errno.EXDEV, errno.ETXTBSY, errno.EBUSY, errno.ENXIO, errno.EAGAIN,
}


def blame(e: BaseException) -> str:
    """"ActionError" when the agent's arguments or workspace caused ``e``, else "EnvError"."""
    if isinstance(e, (ActionError, UnicodeError, RecursionError)):
        return "ActionError"  # unencodable paths; trees or links nested past any sane depth
    if isinstance(e, OSError) and e.errno in _AGENT_ERRNOS:
        return "ActionError"
    if isinstance(e, RuntimeError) and "symlink loop" in str(e).lower():
        return "ActionError"  # pathlib's resolve() on a link cycle
    return "EnvError"


def message(e: BaseException, workspace: Path | None) -> str:
    """The exception's text for the agent, host paths of the workspace made relative."""
    text = str(e) if isinstance(e, ActionError) else f"{type(e).__name__}: {e}"
    if workspace is not None:
        text = text.replace(f"{workspace}/", "").replace(str(workspace), ".")
    return text


def safe_repr(obj: Any) -> str:
    try:
        return repr(obj)[:10_000]
    except Exception:  # noqa: BLE001 - an agent's object with a failing __repr__
        return f"<{type(obj).__name__}>"


def quota_exceeded(quota: Quota | None) -> str | None:
    """What is over the workspace quota, or None."""
    try:
        return quota.exceeded() if quota is not None else None
    except Exception as e:  # noqa: BLE001 - measuring a hostile tree may fail; say so, do not stop
        return f"the workspace size could not be measured ({type(e).__name__})"


def run_action(ctx: ToolContext, action: Any, out: Outcome, tools: Sequence[str], *, max_length: int,
               quota: Quota | None, workspace: Path | None) -> None:
    """Parse, check and run the action with one of ``tools``, filling ``out``; every failure becomes an observation."""
    try:
        call = parse_action(action, max_length)
        out.name, out.arguments = call.name, call.arguments
        tool = lookup(call.name, tools)
        out.name = tool.name
        args = tool.validate(call.arguments)
    except Exception as e:  # noqa: BLE001 - whatever is wrong with an action, it is the action's fault
        out.fail("ActionError", str(e) if isinstance(e, ActionError) else f"{type(e).__name__}: {e}", e)
        return
    if tool.name in QUOTA_GUARDED and quota is not None:
        over = quota_exceeded(quota)
        if over:
            out.fail("ActionError", f"{tool.name} is refused while the workspace is over its quota: {over}", None)
            return
    try:
        obs = tool.fn(ctx, **args)
        out.obs = obs if isinstance(obs, str) else str(obs)
        out.ends = tool.ends_episode
    except Exception as e:  # noqa: BLE001 - classified: the agent's doing, or ours
        out.fail(blame(e), message(e, workspace), e)


def observe(out: Outcome, snap: Snapshotter, quota: Quota | None, log: logging.Logger, step: int,
            workspace: Path | None) -> None:
    """Snapshot what changed, add the snapshotter's and the quota's notes to the observation."""
    notes: list[str] = []
    if not (out.name in READ_ONLY_TOOLS and out.error is None):
        try:
            out.files = snap.changes()
        except Exception as e:  # noqa: BLE001 - a workspace the agent made unreadable must not end the run
            out.snapshot_error = f"{type(e).__name__}: {message(e, workspace)}"
            notes.append(f"EnvError: the workspace snapshot failed ({out.snapshot_error}); changes of this step are not recorded.")
            log.warning("step %d: snapshot failed: %s", step, printable(out.snapshot_error))
        last = getattr(snap, "last_notes", None)
        notes += [last] if isinstance(last, str) else list(last or ())
    if quota is not None:
        over = quota_exceeded(quota)
        if over:
            notes.append(over)
    if notes:
        out.obs = "\n".join([out.obs, *(n for n in notes if n)])


class Ending(NamedTuple):
    terminated: bool
    truncated: bool
    reason: str | None  # None: the episode goes on


def ending(out: Outcome, *, ended_by_agent: str | None, steps: int, max_steps: int, elapsed: float,
           max_time: float) -> Ending:
    """Whether this step ends the episode: Final Answer (terminated), the agent's ``end_episode``, the step or
    time limit (truncated)."""
    terminated = out.ends and out.error is None
    if terminated:
        return Ending(True, False, "final_answer")
    if ended_by_agent is not None:
        return Ending(False, True, ended_by_agent)
    if steps >= max_steps:
        return Ending(False, True, "max_steps")
    if elapsed >= max_time:
        return Ending(False, True, "max_time")
    return Ending(False, False, None)


def step_record(action: Any, out: Outcome, *, step: int, duration: float, reward: float, elapsed: float,
                validation: dict[str, Any] | None) -> StepRecord:
    """The trace record of one step; ``raw_action``: the agent's text, or the repr of an action that did not parse."""
    raw = action if isinstance(action, str) else safe_repr(action) if out.arguments is None else None
    return StepRecord(
        step=step, action={"name": out.name, "arguments": out.arguments}, observation=out.obs,
        duration=round(duration, 6), error=out.error is not None, files=out.files, reward=reward,
        elapsed=round(elapsed, 3), error_type=out.error_type or None,
        traceback=out.traceback or None, snapshot_error=out.snapshot_error or None, raw_action=raw,
        validation=validation,
    )
