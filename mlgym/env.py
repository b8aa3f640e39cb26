"""``MLGymEnv``: one ML task as a ``gymnasium.Env`` with text observations and actions.

    env = gym.make("mlgym/digits-v0", sandbox="local")
    obs, info = env.reset(seed=0)          # info["tools"]: JSON schemas for function calling
    obs, reward, terminated, truncated, info = env.step(
        {"name": "Execute Script", "arguments": {"script_name": "train.py"}})

Actions are ``{"name", "arguments"}`` dicts or ``Action: ...`` / ``Action Input: ...``
text.  A bad action yields an error observation (``info["error"]``), never an
exception.  Rewards are 0 on every step except the last, whose reward is the
improvement over the baseline (see :mod:`mlgym.scoring`).  The episode ends on
``Final Answer`` (terminated) or when the step or time limit is reached (truncated);
either way the submission is scored and ``result.json`` written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import string
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from mlgym.actions import parse_action
from mlgym.data import TaskData, link_tree, prepare
from mlgym.errors import ActionError, MLGymError
from mlgym.sandbox import Limits, Mount, Sandbox, make_sandbox
from mlgym.scoring import evaluate
from mlgym.task import TaskSpec
from mlgym.tools import CORE_TOOLS, REGISTRY, ToolContext, lookup
from mlgym.trace import Snapshotter, TraceWriter, load, restore_workspace

log = logging.getLogger("mlgym")

# Wide charset for sampling; ``UnicodeText.contains`` accepts any string anyway, since
# script output can hold any character.
CHARSET = string.printable + "äöüßéèàçñ€—–“”‘’…→←✓✗αβγλμσπ中文日本語"
READ_ONLY_TOOLS = {"List Files", "Read File", "Inspect Script Lines", "Final Answer"}
DATA_DIR = "data"


class UnicodeText(spaces.Text):
    """A Text space that contains every ``str`` up to ``max_length`` characters."""

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length


def _episode_limits(task: TaskSpec, memory_mb: int | None = None, cpus: float | None = None) -> Limits:
    tl = task.limits
    return Limits(
        timeout=tl.exec_timeout, memory_mb=memory_mb or tl.memory_mb, max_processes=tl.max_processes,
        output_bytes=tl.output_bytes, network=tl.network, cpus=cpus,
    )


class MLGymEnv(gym.Env[str, Any]):
    """See the module docstring.  Constructor arguments mirror the runner's flags."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    observation_space: spaces.Text
    action_space: spaces.Text

    def __init__(
        self,
        task: str | TaskSpec,
        *,
        sandbox: str = "local",
        log_dir: str | Path | None = None,
        work_dir: str | Path | None = None,
        python: str | None = None,
        max_steps: int | None = None,
        max_time: float | None = None,
        exec_timeout: float | None = None,
        device: str | None = None,
        memory_mb: int | None = None,
        cpus: float | None = None,
        tools: Sequence[str] | None = None,
        sandbox_options: dict[str, Any] | None = None,
        fsync: bool = True,
        render_mode: str | None = None,
    ) -> None:
        self.task = task if isinstance(task, TaskSpec) else TaskSpec.load(task)
        self.sandbox_kind = sandbox
        self.base_log_dir = Path(log_dir) if log_dir else None
        self.work_root = Path(work_dir) if work_dir else Path("workspaces")
        self.python = python or (sys.executable if sandbox.startswith("local") else "python3")
        self.max_steps = max_steps or self.task.limits.max_steps
        self.max_time = max_time or self.task.limits.max_time
        self.exec_timeout = exec_timeout or self.task.limits.exec_timeout
        self.memory_mb, self.cpus = memory_mb, cpus  # override task.yaml's limits
        self.sandbox_options = dict(sandbox_options or {})
        if device is not None:
            self.sandbox_options["device"] = device
        self.tool_names = tuple(tools) if tools else CORE_TOOLS
        if any(t not in REGISTRY for t in self.tool_names):
            import mlgym.tools.llm_tools  # noqa: F401  (registers the LLM-backed tools)
        unknown = [t for t in self.tool_names if t not in REGISTRY]
        if unknown:
            raise MLGymError(f"unknown tools {unknown}; registered: {', '.join(REGISTRY)}")
        self._schemas = [REGISTRY[n].json_schema() for n in self.tool_names]
        self.fsync = fsync
        self.render_mode = render_mode
        self.observation_space = UnicodeText(max_length=2_000_000, charset=CHARSET)
        self.action_space = UnicodeText(max_length=200_000, charset=CHARSET)
        self.data: TaskData | None = None
        self.sandbox: Sandbox | None = None
        self.ctx: ToolContext | None = None
        self.writer: TraceWriter | None = None
        self.snap: Snapshotter | None = None
        self.result: dict[str, Any] | None = None
        self.run_id = ""
        self.log_dir: Path | None = None
        self.workspace: Path | None = None
        self.steps = 0
        self._resets = 0
        self._start = 0.0
        self._done = True
        self._last_obs = ""
        self._log_handler: logging.Handler | None = None
        self.run_info: dict[str, Any] = {}  # agent / model names etc. copied into result.json
        if self.spec is None:  # built directly, not by gym.make: still declare what we are
            self.spec = EnvSpec(
                id=f"mlgym/{self.task.name}-v0", entry_point="mlgym.env:MLGymEnv",
                nondeterministic=True, kwargs={"task": self.task.name},
            )

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        self._teardown()
        self._resets += 1
        self.data = prepare(self.task)
        resume = options.get("resume")
        self.run_id = options.get("run_id") or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self.log_dir = self._pick_log_dir(Path(resume) if resume else None)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._attach_log()
        self.workspace = (self.work_root / f"{self.task.name}-{self.run_id}").resolve()
        if self.workspace.exists():
            shutil.rmtree(self.workspace)
        self.workspace.mkdir(parents=True)
        prior = None
        if resume:
            prior = load(self.log_dir)
            restore_workspace(prior, self.workspace)
        else:
            shutil.copytree(self.task.env_dir, self.workspace, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        if os.geteuid() == 0:
            os.chmod(self.workspace, 0o777)
        env_vars = {"MLGYM_SEED": str(seed if seed is not None else 0), "PYTHONHASHSEED": str(seed or 0)}
        opts = {**self.sandbox_options, "env": env_vars}
        if self.sandbox_kind.startswith("local"):
            opts["python"] = self.python
        if self.sandbox_kind == "docker":
            opts.setdefault("run_id", self.run_id)
            opts.setdefault("task", self.task.name)
        self.sandbox = make_sandbox(
            self.sandbox_kind, self.workspace, limits=_episode_limits(self.task, self.memory_mb, self.cpus),
            mounts=[Mount(self.data.public, DATA_DIR)], **opts,
        )
        # Hard links are safe where the sandbox mounts data/ read-only over them; a plain
        # subprocess (possibly root) could write through a link into the cache: copy.
        link_tree(self.data.public, self.workspace / DATA_DIR, copy=self.sandbox.name == "local-plain")
        self.sandbox.start()
        self.ctx = ToolContext(sandbox=self.sandbox, python=self.python, exec_timeout=self.exec_timeout, read_only=(DATA_DIR,))
        self.snap = Snapshotter(self.workspace, self.log_dir, exclude=(DATA_DIR,))
        self.writer = TraceWriter(self.log_dir, fsync=self.fsync)
        if prior is not None:
            self.snap.prime(prior.files_at())
            self.snap.changes()  # learn stats of the restored files
            self.steps = len(prior.steps)
            self.writer.append({"type": "resume", "run_id": self.run_id, "steps_so_far": self.steps})
        else:
            self.steps = 0
            self.writer.append({
                "type": "reset", "task": self.task.name, "run_id": self.run_id, "seed": seed, **self.run_info,
                "sandbox": self.sandbox.name, "workspace": str(self.workspace), "tools": list(self.tool_names),
                "limits": {"max_steps": self.max_steps, "max_time": self.max_time, "exec_timeout": self.exec_timeout},
                "files": self.snap.changes(),
            })
        self._start = time.monotonic()
        self._done = False
        self.result = None
        obs = self.describe()
        self._last_obs = obs
        log.info("reset %s run %s in %s (%s)", self.task.name, self.run_id, self.workspace, self.sandbox.name)
        return obs, self._info()

    def _pick_log_dir(self, resume: Path | None) -> Path:
        if resume is not None:
            if not (resume / "trace.jsonl").is_file():
                raise MLGymError(f"cannot resume: {resume}/trace.jsonl does not exist")
            return resume
        if self.base_log_dir is None:
            return Path("runs") / self.task.name / self.run_id
        if self._resets == 1 and not (self.base_log_dir / "trace.jsonl").exists():
            return self.base_log_dir
        return self.base_log_dir.parent / f"{self.base_log_dir.name}.{self.run_id}"

    def describe(self) -> str:
        """The first observation: research problem, where things are, the tools."""
        tools = "\n".join(REGISTRY[n].prompt_text() for n in self.tool_names)
        subs = ", ".join(self.task.submission)
        return (
            f"Research Problem: {self.task.description}\n\n"
            f"The task data is in the read-only folder {DATA_DIR}/. Your submission is the file(s) {subs} "
            f"in the current directory; it is scored on {self.task.metric} "
            f"({self.task.direction} is better) when you give the Final Answer. "
            f"You have {self.max_steps} steps.\n\n"
            f"You have access to the following tools:\n{tools}\n\n"
            "Respond with:\nAction: <tool name>\nAction Input: <JSON object with the arguments>"
        )

    def _info(self, **extra: Any) -> dict[str, Any]:
        return {
            "task": self.task.name, "run_id": self.run_id, "log_dir": str(self.log_dir),
            "workspace": str(self.workspace), "sandbox": self.sandbox.name if self.sandbox else None,
            "step": self.steps, "tools": self._schemas,
            "tool_names": list(self.tool_names), **extra,
        }

    # ------------------------------------------------------------------- step
    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done or self.ctx is None or self.writer is None or self.snap is None:
            raise MLGymError("the episode is over (or was never started); call reset() first")
        t0 = time.monotonic()
        self.steps += 1
        # A script may not run past the episode's time limit either.
        remaining = self.max_time - (t0 - self._start)
        self.ctx.exec_timeout = max(1.0, min(self.exec_timeout, remaining))
        error: str | None = None
        call = None
        ends = False
        name: str | None = None
        try:
            call = parse_action(action)
            tool = lookup(call.name, self.tool_names)
            obs = tool(self.ctx, call.arguments)
            ends = tool.ends_episode
            name = tool.name
        except (ActionError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
            error, name = str(e), (call.name if call else None)
            obs = f"ActionError: {e}"
        except OSError as e:
            error, name = f"{type(e).__name__}: {e}", (call.name if call else None)
            obs = f"EnvError: {error}"
        files = {} if (name in READ_ONLY_TOOLS and error is None) else self.snap.changes()
        duration = time.monotonic() - t0
        log.info("step %d %s%s (%.2fs)", self.steps, name or "?", " [error]" if error else "", duration)
        elapsed = time.monotonic() - self._start
        record: dict[str, Any] = {
            "type": "step", "step": self.steps,
            "action": {"name": name, "arguments": call.arguments if call else None},
            "observation": obs, "duration": round(duration, 6), "error": error is not None, "files": files,
        }
        if isinstance(action, str):
            record["raw_action"] = action
        elif call is None:
            record["raw_action"] = repr(action)[:10_000]
        terminated = ends and error is None
        truncated = False
        reason = "final_answer" if terminated else None
        if not terminated and self.steps >= self.max_steps:
            truncated, reason = True, "max_steps"
        elif not terminated and elapsed >= self.max_time:
            truncated, reason = True, "max_time"
        reward = 0.0
        if terminated or truncated:
            record["reward"] = 0.0
            self.writer.append(record)
            reward = self.finish(reason or "done")
        else:
            record["reward"] = 0.0
            self.writer.append(record)
        self._last_obs = obs
        info = self._info(error=error, duration=duration)
        if self.result is not None:
            info["result"] = self.result
        return obs, reward, terminated, truncated, info

    # ------------------------------------------------------------- ending
    def finish(self, reason: str) -> float:
        """End the episode now (also for budget limits set by agents); score; write result.json."""
        if self.result is not None:
            return float(self.result.get("reward", 0.0))
        assert self.workspace is not None and self.data is not None and self.log_dir is not None
        self._done = True
        res = evaluate(self.task, self.data, self.workspace, sandbox=self.sandbox_kind, python=self.python, sandbox_options=self._eval_options())
        reward = float(res["improvement"]) if res["improvement"] is not None else 0.0
        res.update(
            run_id=self.run_id, log_dir=str(self.log_dir), reason=reason, steps=self.steps, reward=reward,
            wall_time=round(time.monotonic() - self._start, 3), sandbox=self.sandbox.name if self.sandbox else None,
            final_answer=self.ctx.final_answer if self.ctx else None, **self.run_info,
        )
        self.result = res
        if self.writer is not None:
            self.writer.append({"type": "result", **res})
        write_json(self.log_dir / "result.json", res)
        self._export_mlagentbench()
        log.info("scored %s: %s=%s baseline=%s improvement=%s", self.task.name, self.task.metric, res["score"], res["baseline"], res["improvement"])
        return reward

    def _eval_options(self) -> dict[str, Any]:
        opts = {k: v for k, v in self.sandbox_options.items() if k not in ("device",)}
        if self.sandbox_kind.startswith("local"):
            opts["python"] = self.python
        if self.sandbox_kind == "docker":
            opts.update(run_id=self.run_id + "-eval", task=self.task.name)
        return opts

    def _export_mlagentbench(self) -> None:
        """``trace.json`` in MLAgentBench's layout, written once at the end."""
        assert self.log_dir is not None
        trace = load(self.log_dir)
        steps = [
            {"action": {"name": r["action"]["name"], "args": r["action"]["arguments"]}, "observation": r["observation"], "timestamp": r["time"]}
            for r in trace.steps
        ]
        write_json(self.log_dir / "trace.json", {"steps": steps, "low_level_steps": [], "task_description": self.task.description})

    # ------------------------------------------------------------- lifecycle
    def render(self) -> str | None:
        return self._last_obs if self.render_mode == "ansi" else None

    def _attach_log(self) -> None:
        assert self.log_dir is not None
        self._detach_log()
        handler = logging.FileHandler(self.log_dir / "env.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("mlgym").addHandler(handler)
        if logging.getLogger("mlgym").level == logging.NOTSET or logging.getLogger("mlgym").level > logging.INFO:
            logging.getLogger("mlgym").setLevel(logging.INFO)
        self._log_handler = handler

    def _detach_log(self) -> None:
        if self._log_handler is not None:
            logging.getLogger("mlgym").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def _teardown(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self._detach_log()

    def close(self) -> None:
        self._teardown()
        super().close()


def write_json(path: Path, obj: Any) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)
