"""``MLGymEnv``: one ML task as a ``gymnasium.Env`` with text observations and actions.

    env = gym.make("mlgym/digits-v0", sandbox="local")
    obs, info = env.reset(seed=0)          # info["tools"]: JSON schemas for function calling
    obs, reward, terminated, truncated, info = env.step(
        {"name": "Execute Script", "arguments": {"script_name": "train.py"}})

Actions are ``{"name", "arguments"}`` dicts or ``Action: ...`` / ``Action Input: ...``
text (``env.action_space``, :class:`mlgym.env.spaces.ActionSpace`, contains exactly those).
Everything else an agent has to say is a public method, reachable in a worker through
``VectorEnv.call``: :meth:`MLGymEnv.record_llm_calls`, :meth:`~MLGymEnv.set_run_info`,
:meth:`~MLGymEnv.report_llm_usage`, :meth:`~MLGymEnv.configure_llm_tools`,
:meth:`~MLGymEnv.aside`, :meth:`~MLGymEnv.end_episode` and :meth:`~MLGymEnv.finish`.  A bad action yields an error observation (``info["error"]``), never an
exception.  Rewards are 0 on every step except the last, whose reward is the
improvement over the baseline (see :mod:`mlgym.grading.scoring`); with ``reward_mode="dense"``
a step that changes the validation predictions pays the change of their validation
improvement (see :mod:`mlgym.env.dense`).  The episode ends on
``Final Answer`` (terminated) or when the step or time limit is reached (truncated);
either way the submission is scored and ``result.json`` written.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from mlgym.core.errors import MLGymError
from mlgym.core.safetext import printable
from mlgym.core.scratch import collect as collect_scratch
from mlgym.env import episode, finish, stepping
from mlgym.env.dense import REWARD_MODES, DenseReward, FinalReward
from mlgym.env.episode import EnvOptions, started
from mlgym.env.legacy import legacy_notes
from mlgym.env.logs import EpisodeLog
from mlgym.env.spaces import CHARSET, ActionSpace, UnicodeText
from mlgym.env.stepping import ASIDE_TOOLS, QUOTA_GUARDED, READ_ONLY_TOOLS, Outcome
from mlgym.env.tools import CORE_TOOLS, REGISTRY, ToolContext
from mlgym.runlog.jsonio import write_json
from mlgym.runlog.records import RESULT_KEYS, SCHEMA_VERSION, AsideRecord, Result
from mlgym.runlog.status import status_for_reason
from mlgym.runlog.trace import TORN, ResetRecord, ResumeRecord, Snapshotter, TraceWriter, restore_workspace
from mlgym.sandbox import Sandbox, make_sandbox
from mlgym.sandbox.base import capabilities
from mlgym.sandbox.quota import Quota
from mlgym.tasks import taskenv
from mlgym.tasks.data import TaskData, settled
from mlgym.tasks.spec import TaskSpec

__all__ = ["ASIDE_TOOLS", "CHARSET", "QUOTA_GUARDED", "READ_ONLY_TOOLS", "EnvOptions", "MLGymEnv", "UnicodeText", "started",
           "write_json"]

# The keys of the ``llm_tools`` option (mlgym.llm.client.RunLLMs.tool_options); anything else is refused,
# so nothing unexpected (a key) reaches the trace.
LLM_TOOL_KEYS = frozenset({
    "fast", "edit", "base_url", "api_key_env", "cache", "small_trace", "retries", "backoff", "timeout", "max_cost",
    "max_tokens", "profile", "edit_backups", "inspect_max_lines",
})
_RESULT_KEYS = RESULT_KEYS  # keys of result.json the env sets; an agent's run_info cannot replace them


class MLGymEnv(gym.Env[str, Any]):
    """See the module docstring.  Constructor arguments mirror the runner's flags (:class:`EnvOptions`;
    ``options=EnvOptions(...)`` gives them all at once, keywords given beside it win)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    observation_space: spaces.Text
    action_space: ActionSpace

    def __init__(
        self,
        task: str | TaskSpec,
        *,
        sandbox: str | None = None,
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
        fsync: bool | None = None,
        render_mode: str | None = None,
        reward_mode: str | None = None,
        options: EnvOptions | None = None,
    ) -> None:
        given: dict[str, Any] = {
            "sandbox": sandbox, "log_dir": log_dir, "work_dir": work_dir, "python": python, "max_steps": max_steps,
            "max_time": max_time, "exec_timeout": exec_timeout, "device": device, "memory_mb": memory_mb, "cpus": cpus,
            "tools": tools, "sandbox_options": sandbox_options, "fsync": fsync, "render_mode": render_mode,
            "reward_mode": reward_mode,
        }
        opts = dataclasses.replace(options or EnvOptions(), **{k: v for k, v in given.items() if v is not None})
        self.options = opts
        self.task = task if isinstance(task, TaskSpec) else TaskSpec.load(task)
        self.sandbox_kind = opts.sandbox
        self.base_log_dir = Path(opts.log_dir) if opts.log_dir else None
        self.work_root = Path(opts.work_dir) if opts.work_dir else Path("workspaces")
        # The agent's interpreter: --python when given; else, on the local backends, the
        # task's environment (mlgym.tasks.taskenv, built on the first reset), never the harness's.
        self.python_override = opts.python
        self._env_opts: dict[str, Any] = {}  # the task environment's sandbox options (mlgym.tasks.taskenv)
        self.caps = capabilities(opts.sandbox)  # what the backend does (mlgym.sandbox.base.Capabilities)
        self.python = opts.python or ("python" if self.caps.host_python else "python3")
        self.max_steps = opts.max_steps or self.task.limits.max_steps
        self.max_time = opts.max_time or self.task.limits.max_time
        self.exec_timeout = opts.exec_timeout or self.task.limits.exec_timeout
        self.memory_mb, self.cpus = opts.memory_mb, opts.cpus  # override task.yaml's limits
        self.sandbox_options = dict(opts.sandbox_options or {})
        if opts.device is not None:
            self.sandbox_options["device"] = opts.device
        self.tool_names = tuple(opts.tools) if opts.tools else CORE_TOOLS
        if opts.reward_mode not in REWARD_MODES:
            raise MLGymError(f"unknown reward_mode {opts.reward_mode!r}; choose one of: {', '.join(REWARD_MODES)}")
        self.reward_mode = opts.reward_mode  # what each step pays: see mlgym.env.dense
        self.reward: FinalReward = FinalReward()  # the reward mode's strategy, rebuilt at each reset
        if self.reward_mode == "dense" and "Validate" not in self.tool_names:
            import mlgym.env.tools.validate  # noqa: F401  (registers Validate)

            self.tool_names += ("Validate",)
        if any(t not in REGISTRY for t in self.tool_names):
            import mlgym.env.tools.llm_tools  # noqa: F401  (registers the LLM-backed tools)
        unknown = [t for t in self.tool_names if t not in REGISTRY]
        if unknown:
            raise MLGymError(f"unknown tools {unknown}; registered: {', '.join(REGISTRY)}")
        self._schemas = [REGISTRY[n].json_schema() for n in self.tool_names]
        self.fsync = opts.fsync
        self.render_mode = opts.render_mode
        # min_length=0: an empty file read is an empty observation, and still in the space
        self.observation_space = UnicodeText(min_length=0, max_length=2_000_000, charset=CHARSET)
        self.action_space = ActionSpace(max_length=200_000, charset=CHARSET)  # samples: garbage, answered with ActionError
        self.data: TaskData | None = None
        self.sandbox: Sandbox | None = None
        self.ctx: ToolContext | None = None
        self.writer: TraceWriter | None = None
        self.snap: Snapshotter | None = None
        self.quota: Quota | None = None  # the workspace size limit while an episode runs
        self.result: dict[str, Any] | None = None  # result.json's mapping once the episode ended (Result.to_dict)
        self.run_id = ""
        self.log_dir: Path | None = None
        self.workspace: Path | None = None
        self.steps = 0
        self._resets = 0
        self._start = 0.0
        self._done = True
        self._last_obs = ""
        self.episode_log = EpisodeLog()  # this env's logger and its env.log (mlgym.env.logs)
        self.log = self.episode_log.logger
        self.run_info: dict[str, Any] = {}  # agent / model names etc. copied into result.json
        self._tool_llms: Any = None  # mlgym.llm.client.RunLLMs of the LLM-backed tools, built here (llm_tools)
        self._tool_llm_options: dict[str, Any] | None = None
        if self.spec is None:  # built directly, not by gym.make: still declare what we are
            self.spec = EnvSpec(
                id=f"mlgym/{self.task.name.split('/')[0]}-v0", entry_point="mlgym.env.core:MLGymEnv",  # amlb/...: mlgym/amlb-v0
                nondeterministic=True, kwargs={"task": self.task.name},
            )

    # ------------------------------------------------------------------ reset (mlgym.env.episode)
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode; ``options={"resume": LOG_DIR}`` continues a cut-short one.

        ``options={"run_info": {...}}`` adds keys (agent and model names, ...) to the reset
        record and ``result.json``: how an agent in another process (a vector env's or
        :mod:`mlgym.runs.rollout`'s worker) names itself.  ``options={"llm_tools": {...}}``
        (:meth:`mlgym.llm.client.RunLLMs.tool_options`) builds the models of the LLM-backed tools
        here, in the env's process (:meth:`configure_llm_tools` does it later).

        A resumed run keeps its run_id, its step count and its clock (the time used so
        far counts against ``max_time``).  A log folder whose trace has no reset record
        (killed while starting) holds nothing to continue: the episode starts afresh
        there.  A finished run cannot be resumed (:class:`MLGymError`).
        """
        super().reset(seed=seed)
        with self.episode_log.active():
            return self._reset(seed, options or {})

    def _reset(self, seed: int | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._merge_run_info(options.get("run_info"))
        self._teardown()
        self._resets += 1
        collect_scratch()  # temporary folders of killed processes (e.g. a kill during scoring)
        self.data = self.task.family.prepare(self.task)
        self.task = settled(self.task, self.data)  # what the data decides (e.g. AMLB's metric from the task type)
        if self.python_override is None:  # the task's environment; built now if missing (mlgym.tasks.taskenv)
            self._env_opts = taskenv.sandbox_options(self.task, self.sandbox_kind, progress=lambda msg: self.log.info("%s", msg))
            self.python = str(self._env_opts.get("python", self.python))
        resume = Path(options["resume"]) if options.get("resume") else None
        prior = episode.load_prior(resume, self.task.name) if resume is not None else None
        prior_reset = prior.reset if prior is not None else None
        self.run_id = str((prior_reset or {}).get("run_id") or options.get("run_id") or episode.new_run_id())
        self.log_dir = resume if resume is not None else episode.pick_log_dir(self.base_log_dir, self.task.name, self.run_id, self._resets == 1)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.episode_log.attach(self.log_dir)
        if prior is None:
            episode.set_aside_unstarted(self.log_dir, self.log)
        else:
            episode.drop_stale_result(self.log_dir)
        self.workspace = episode.fresh_dir((self.work_root / f"{self.task.name}-{self.run_id}").resolve())
        self.quota = episode.mount_quota(self.workspace, self.task.limits.workspace_mb)
        if prior is not None:
            restore_workspace(prior, self.workspace)
        else:
            self.task.family.build_workspace(self.task, self.workspace)
        opts = episode.run_options(self.task, self.caps, sandbox_options=self.sandbox_options, env_opts=self._env_opts,
                                   seed=seed, python=self.python, run_id=self.run_id)
        self.reward = self._reward_mode()
        mounts = self.reward.mounts(self.task.family.mounts(self.task, self.data), prior.steps if prior is not None else None)
        inside = tuple(m.target for m in mounts if not os.path.isabs(m.target))  # e.g. data/
        self.sandbox = make_sandbox(
            self.sandbox_kind, self.workspace, limits=episode.episode_limits(self.task, self.memory_mb, self.cpus),
            mounts=mounts, **opts,
        )
        if os.geteuid() == 0 and not capabilities(self.sandbox.name).own_uid:
            os.chmod(self.workspace, 0o777)  # a backend without its own uid runs agent code as nobody
        episode.link_mounts(mounts, inside, self.workspace, copy=not capabilities(self.sandbox.name).protected_links)
        self.sandbox.start()
        self.ctx = ToolContext(sandbox=self.sandbox, python=self.python, exec_timeout=self.exec_timeout, read_only=inside)
        if isinstance(self.reward, DenseReward):
            self.reward.workspace = self.workspace
        self.ctx.extra.update(self.reward.extra_context())
        self._tool_llms, self._tool_llm_options = None, None
        if options.get("llm_tools"):
            self._configure_tools(options["llm_tools"])
        self.snap = Snapshotter(self.workspace, self.log_dir, exclude=inside)
        self.writer = TraceWriter(self.log_dir, fsync=self.fsync)
        if self.writer.repaired_bytes:
            self.log.warning("the trace's last line was cut by a kill: %d bytes moved to %s", self.writer.repaired_bytes, TORN)
        elapsed = 0.0
        if prior is not None:
            self.snap.prime(prior.files_at())
            self.snap.changes()  # learn stats of the restored files
            self.steps, elapsed = prior.last_step, prior.elapsed
            self.writer.append(ResumeRecord(run_id=self.run_id, steps_so_far=self.steps, elapsed=round(elapsed, 3)))
            self.log.info("resumed run %s after step %d (%.1fs used)", self.run_id, self.steps, elapsed)
        else:
            self.steps = 0
            self.writer.append(ResetRecord(
                task=self.task.name, task_root=str(self.task.root), run_id=self.run_id, seed=seed,
                sandbox=self.sandbox.name, workspace=str(self.workspace), tools=list(self.tool_names),
                tool_schemas=self._schemas,
                limits={"max_steps": self.max_steps, "max_time": self.max_time, "exec_timeout": self.exec_timeout},
                quota=self.quota.kind, files=self.snap.changes(), observation=self.describe(),
                task_description=self.task_description(), extra=dict(self.run_info),
            ))
        self._start = time.monotonic() - elapsed
        self._done = False
        self.result = None
        obs = self.describe()
        self._last_obs = obs
        self.log.info("reset %s run %s in %s (%s)", self.task.name, self.run_id, self.workspace, self.sandbox.name)
        return obs, self._info(task_description=self.task_description(), research_problem=self.research_problem())

    def task_description(self) -> str:
        """The research problem and the step budget, without the tool list (reset's ``info["task_description"]``)."""
        dense = f" {self.reward.describe()}" if self.reward.describe() else ""
        return f"{self.task.family.describe(self.task)}{dense} You have {self.max_steps} steps."

    def research_problem(self) -> str:
        """The task's own problem text (an MLAgentBench task's research_problem.txt), reset's ``info["research_problem"]``."""
        return str(self.task.description)

    def describe(self) -> str:
        """The first observation: research problem, where things are, the tools."""
        tools = "\n".join(REGISTRY[n].prompt_text() for n in self.tool_names)
        return (
            f"{self.task_description()}\n\n"
            f"You have access to the following tools:\n{tools}\n\n"
            "Respond with:\nAction: <tool name>\nAction Input: <JSON object with the arguments>"
        )

    def _info(self, **extra: Any) -> dict[str, Any]:
        return {
            "task": self.task.name, "run_id": self.run_id, "log_dir": str(self.log_dir),
            "workspace": str(self.workspace), "sandbox": self.sandbox.name if self.sandbox else None,
            "step": self.steps, "tools": self._schemas,
            "tool_names": list(self.tool_names), "metric": self.task.metric, "direction": self.task.direction,
            "max_steps": self.max_steps, "max_time": self.max_time, "exec_timeout": self.exec_timeout,
            "family": self.task.kind, "reward_mode": self.reward_mode,
            **({"tool_llm_usage": self._tool_llms.budget.own()} if self._tool_llms is not None else {}), **extra,
        }

    def _eval_options(self) -> dict[str, Any]:
        return episode.eval_options(self.task, self.caps, sandbox_options=self.sandbox_options, env_opts=self._env_opts,
                                    python=self.python, run_id=self.run_id)

    def _reward_mode(self) -> FinalReward:
        """This episode's reward strategy (:mod:`mlgym.env.dense`): :class:`FinalReward`, or :class:`DenseReward`
        (the carved validation split)."""
        if self.reward_mode != "dense":
            return FinalReward()
        assert self.data is not None
        return DenseReward(self.task, self.data, sandbox=self.sandbox_kind, python=self.python, sandbox_options=self._eval_options())

    # ------------------------------------------------------------------- step (mlgym.env.stepping)
    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One action.  Never raises for anything the agent sent or did.

        Every step writes exactly one trace record, also when something inside failed:
        a bad action is an ``ActionError:`` observation, a host-side failure an
        ``EnvError:`` one naming the exception type (the traceback goes to the record,
        not the console).  Only calling it outside an episode raises.
        """
        if self._done or self.ctx is None or self.writer is None or self.snap is None:
            raise MLGymError("the episode is over (or was never started); call reset() first")
        with self.episode_log.active():
            if isinstance(action, dict) and not action.keys() <= {"name", "arguments", "args"}:
                return legacy_notes(self, action)  # deprecated dict side channel (docs/rl.md)
            return self._step(action)

    def _step(self, action: Any, ending: str | None = None, problem: str | None = None) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """One step: ``ending`` (:meth:`end_episode`) records a step that ends the episode without running a tool;
        ``problem``: an ``ActionError`` to answer instead of running the action."""
        assert self.ctx is not None and self.snap is not None and self.writer is not None
        t0 = time.monotonic()
        self.steps += 1
        # A script may not run past the episode's time limit either.
        remaining = self.max_time - (t0 - self._start)
        self.ctx.exec_timeout = max(1.0, min(self.exec_timeout, remaining))
        out = Outcome()
        self.reward.begin_step()
        try:
            if ending is not None:
                out.obs = f"The agent ended the episode ({ending})."
            elif problem is not None:
                out.fail("ActionError", problem, None)
            else:
                stepping.run_action(self.ctx, action, out, self.tool_names, max_length=self.action_space.max_length,
                                    quota=self.quota, workspace=self.workspace)
            stepping.observe(out, self.snap, self.quota, self.log, self.steps, self.workspace)
        except BaseException as e:  # KeyboardInterrupt, SystemExit: record the step, then stop
            out.fail("EnvError", f"interrupted ({type(e).__name__})", e)
            self._record(action, out, time.monotonic() - t0)
            raise
        duration = time.monotonic() - t0
        out.obs = out.obs[: self.observation_space.max_length]  # tools clip far below; a guarantee for the space
        elapsed = time.monotonic() - self._start
        end = stepping.ending(out, ended_by_agent=ending, steps=self.steps, max_steps=self.max_steps, elapsed=elapsed,
                              max_time=self.max_time)
        # The last step is scored before it is recorded: its record carries the reward step returns.
        res = self._score(end.reason) if end.reason else None
        reward = res.reward if res is not None else self.reward.step_reward(out.files)
        self._record(action, out, duration, reward, elapsed)
        if res is not None:
            self._conclude(res)
        self._last_obs = out.obs
        info = self._info(error=out.error, duration=duration)
        if self.result is not None:
            info["result"] = self.result
        return out.obs, reward, end.terminated, end.truncated, info

    def _record(self, action: Any, out: Outcome, duration: float, reward: float = 0.0, elapsed: float | None = None) -> None:
        assert self.writer is not None
        self.log.info("step %d %s%s (%.2fs)", self.steps, printable(out.name or "?", 80), f" [{out.kind}]" if out.error else "", duration)
        self.writer.append(stepping.step_record(
            action, out, step=self.steps, duration=duration, reward=reward,
            elapsed=time.monotonic() - self._start if elapsed is None else elapsed, validation=self.reward.validation,
        ))

    # ------------------------------------------------------------- the agent's side of the episode (public)
    def record_llm_calls(self, records: Any) -> None:
        """The agent's model calls since its last step, as trace ``llm`` records (written before the next
        step's); anything that is no mapping is left out."""
        if self.writer is None:
            return
        for rec in records if isinstance(records, list) else ():
            if isinstance(rec, dict):
                self.writer.append({**rec, "type": "llm"})

    def set_run_info(self, info: Any) -> None:
        """Keys (agent and model names, token usage...) for the reset record and ``result.json``; a key the
        result sets itself is never replaced.  Also a reset option: ``options={"run_info": {...}}``."""
        self._merge_run_info(info)

    def report_llm_usage(self, usage: Any) -> None:
        """The agent's own model spend (:meth:`mlgym.llm.client.Budget.own`), counted against the LLM tools' budget."""
        if self._tool_llms is not None:
            self._tool_llms.budget.set_outside(usage)

    def configure_llm_tools(self, options: Any) -> str | None:
        """Build the LLM-backed tools' models here, in the env's process (:meth:`mlgym.llm.client.RunLLMs.tool_options`;
        also the reset option ``llm_tools``).  Returns what was wrong with ``options``, or None; never raises."""
        if not options:
            return None
        try:
            with self.episode_log.active():
                self._configure_tools(options)
        except MLGymError as e:
            return f"llm_tools: {e}"
        return None

    def end_episode(self, reason: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """End the episode now, as a step: its record's observation says the agent ended it, it is scored as
        truncated with ``reason``; returns what ``step`` returns."""
        if self._done or self.ctx is None or self.writer is None or self.snap is None:
            raise MLGymError("the episode is over (or was never started); call reset() first")
        reason = printable(str(reason).strip(), 60) or "agent_stopped"
        with self.episode_log.active():
            return self._step({"end": reason}, ending=reason)

    def _merge_run_info(self, info: Any) -> None:
        """An agent's keys for the reset record and ``result.json``; never one the result sets itself."""
        if isinstance(info, dict):
            self.run_info.update({str(k): v for k, v in info.items() if str(k) not in _RESULT_KEYS})

    def _configure_tools(self, options: Any) -> None:
        """The models of the LLM-backed tools, built in this process from ``options`` (see
        :meth:`mlgym.llm.client.RunLLMs.tool_options`), and the tools' profile settings; recorded as
        ``tool_llms`` in the run's info (names and settings only).  The same options again: nothing."""
        from mlgym.llm.client import RunLLMs
        from mlgym.env.tools.llm_tools import BACKUP_DIR

        if options == self._tool_llm_options:
            return
        if not isinstance(options, dict):
            raise MLGymError("llm_tools must be a mapping (mlgym.llm.client.RunLLMs.tool_options)")
        unknown = sorted(str(k) for k in options if k not in LLM_TOOL_KEYS)
        if unknown:
            raise MLGymError(f"unknown llm_tools keys {unknown}; known: {', '.join(sorted(LLM_TOOL_KEYS))}")
        assert self.ctx is not None and self.workspace is not None
        llms = RunLLMs.for_tools(options, on_call=self._trace_llm)
        if self._tool_llms is not None:  # reconfigured mid-episode: the spend so far still counts
            old = self._tool_llms.budget
            llms.budget.calls, llms.budget.tokens, llms.budget.cost, llms.budget.outside = old.calls, old.tokens, old.cost, old.outside
        self._tool_llms, self._tool_llm_options = llms, dict(options)
        self.ctx.extra.update(llm=llms.fast, edit_llm=llms.edit, research_problem=self.task.description)
        if options.get("profile"):
            self.ctx.extra["profile"] = str(options["profile"])
        if options.get("inspect_max_lines"):
            self.ctx.inspect_max_lines = int(options["inspect_max_lines"])
        if options.get("edit_backups"):  # MLAgentBench's backup/ folder for AI edits
            self.ctx.extra["edit_backups"] = True
            backup = self.workspace / BACKUP_DIR
            if not os.path.lexists(backup):
                backup.mkdir()
                os.chmod(backup, 0o777)
        self._merge_run_info({"tool_llms": dict(options)})

    def _trace_llm(self, record: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.append(record)

    def aside(self, name: str, arguments: Any = None) -> tuple[str, dict[str, Any]]:
        """Run one of :data:`ASIDE_TOOLS` between steps (the research log of the research agent's mlgym profile).

        Not a step: the step count, the clock's limits and the reward are untouched; written to the
        trace as an ``aside`` record.  Returns the observation and an info (``error`` set when refused)."""
        if self._done or self.writer is None:
            raise MLGymError("the episode is over (or was never started); call reset() first")
        with self.episode_log.active():
            return self._aside(name, arguments)

    def _aside(self, name: Any, arguments: Any, problem: str | None = None) -> tuple[str, dict[str, Any]]:
        import mlgym.env.tools.llm_tools  # noqa: F401  (registers the aside tools)

        assert self.writer is not None and self.ctx is not None
        t0 = time.monotonic()
        out = Outcome()
        if problem is not None:
            out.fail("ActionError", problem, None)
        elif name not in ASIDE_TOOLS:
            out.fail("ActionError", f"only {' and '.join(ASIDE_TOOLS)} can run between steps, not {printable(str(name), 60)}", None)
        else:
            stepping.run_action(self.ctx, {"name": name, "arguments": arguments or {}}, out, ASIDE_TOOLS,
                                max_length=self.action_space.max_length, quota=self.quota, workspace=self.workspace)
        duration = time.monotonic() - t0
        if out.name is None and isinstance(name, str):  # refused before parsing: what was asked
            out.name = name
        self.writer.append(AsideRecord(
            after_step=self.steps, action={"name": out.name, "arguments": out.arguments}, observation=out.obs,
            error=out.error is not None, duration=round(duration, 6),
        ))
        return out.obs, self._info(error=out.error, duration=duration, aside=True)

    # ------------------------------------------------------------- ending (mlgym.env.finish)
    def finish(self, reason: str, *, status: str | None = None, error: str | None = None) -> float:
        """End the episode now (also for budget limits set by agents); score; write result.json.

        Scoring never raises: a failure is the result's ``error`` (``EnvError: ...``).  ``status``
        (:mod:`mlgym.runlog.status`; default: what ``reason`` implies) and ``error`` let the runner say that the
        harness or a service failed (``error``) or that the run was interrupted (``cancelled``).
        """
        if self.result is not None:
            return float(self.result.get("reward", 0.0))
        with self.episode_log.active():
            res = self._score(reason)
            res.status = status or status_for_reason(reason)
            if error:
                res.error = printable(error, 2000)
            self._conclude(res)
        return res.reward

    def _score(self, reason: str) -> Result:
        """Evaluate the submission (the episode is over from here on); the result, not yet written."""
        assert self.workspace is not None and self.data is not None and self.log_dir is not None
        self._done = True
        final_answer = self.ctx.final_answer if self.ctx else None
        res = finish.score(self.task, self.data, self.workspace, sandbox=self.sandbox_kind, python=self.python,
                           sandbox_options=self._eval_options(), final_answer=final_answer, log=self.log)
        res.run_id, res.log_dir, res.reason, res.steps = self.run_id, str(self.log_dir), reason, self.steps
        res.wall_time = round(time.monotonic() - self._start, 3)
        res.sandbox = self.sandbox.name if self.sandbox else None
        res.final_answer, res.episode_finished, res.version = final_answer, True, SCHEMA_VERSION
        res.status = status_for_reason(reason)
        res.add_run_info(self.run_info)
        return res

    def _conclude(self, res: Result) -> None:
        """Keep the result: the trace's result record, ``result.json``, the run exporters' files."""
        assert self.log_dir is not None
        self.result = res.to_dict()
        finish.conclude(self.result, self.log_dir, self.writer)
        finish.export(self.log_dir, self.task, self.log)
        self.log.info("scored %s: %s=%s baseline=%s improvement=%s", self.task.name, self.task.metric, res.score, res.baseline, res.improvement)

    # ------------------------------------------------------------- lifecycle
    def render(self) -> str | None:
        return self._last_obs if self.render_mode == "ansi" else None

    def _teardown(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        if self.quota is not None:
            try:
                self.quota.release()
            except Exception as e:  # noqa: BLE001 - umount failing must not hide the episode's end
                self.log.warning("could not release the workspace quota of %s: %s", self.workspace, printable(e))
            self.quota = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.episode_log.detach()

    def close(self) -> None:
        self._teardown()
        super().close()
