"""``python -m mlgym.runner``: run one episode of one agent on one task.

    python -m mlgym.runner --task digits --agent baseline --log-dir runs/first

Flags follow MLAgentBench's runner where they make sense.  User mistakes (unknown
task or agent, missing data, bad flag values) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from mlgym.core.parsing import Parser
from mlgym.core.errors import DataError, LLMError, MLGymError, SandboxError
from mlgym.runlog.jsonio import write_json
from mlgym.runlog.status import default_label
from mlgym.sandbox.base import capabilities
from mlgym.core.safetext import printable
from mlgym.agents.options import AgentOptions, add_options as add_agent_options, agent_tools

log = logging.getLogger("mlgym")
DEFAULT_TASK = "digits"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m mlgym.runner", description="Run one agent episode on one mlgym task.")
    p.add_argument("--benchmarks", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder of tasks (e.g. MLAgentBench's benchmarks/): its tasks win over built-ins of the same "
                        "name (the same as MLGYM_BENCHMARKS=DIR; may be given twice)")
    p.add_argument("--task", default=None, help="task name (see `mlgym tasks`) or a folder with task.yaml (default: digits; "
                   "with --resume: the run's own)")
    p.add_argument("--agent", default="baseline", help="agent name, or module:Class of your own")
    p.add_argument("--log-dir", type=Path, default=None, help="folder for trace.jsonl, result.json, env.log")
    p.add_argument("--work-dir", type=Path, default=Path("workspaces"), help="where episode workspaces are made")
    p.add_argument("--sandbox", default="local", help="local (bwrap if available), local-bwrap, local-plain, docker")
    p.add_argument("--device", default=None, help="GPU index for the docker sandbox (e.g. 0)")
    p.add_argument("--python", default=None, help="Python interpreter the agent's scripts run with")
    p.add_argument("--allow-partial-env", action="store_true",
                   help="run even when some of the task environment's requirements cannot be installed (each is named; "
                        "the same as MLGYM_ALLOW_PARTIAL_ENV=1)")
    p.add_argument("--max-steps", type=_positive_int, default=None, help="step limit (default: the task's)")
    p.add_argument("--max-time", type=_positive_float, default=None, help="episode wall-clock limit in seconds")
    p.add_argument("--exec-timeout", type=_positive_float, default=None, help="per Execute Script limit in seconds")
    p.add_argument("--memory-mb", type=_positive_int, default=None, help="memory limit of the sandbox (default: the task's)")
    p.add_argument("--cpus", type=_positive_float, default=None, help="CPU share of the docker sandbox, e.g. 1.5")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", type=Path, default=None, help="continue a killed run from its log folder")
    p.add_argument("--no-fsync", action="store_true", help="do not fsync the trace each step (faster, less safe)")
    p.add_argument("--reward-mode", choices=("final", "dense"), default="final",
                   help="final: only the last step pays (test improvement); dense: validation improvements along the way "
                        "(see docs/rl.md)")
    g = p.add_argument_group("LLM agents")
    g.add_argument("--llm-name", default=None, help="litellm model name, e.g. openai/gpt-4o-mini")
    g.add_argument("--fast-llm-name", default=None, help="model for LLM-backed tools (default: --llm-name)")
    g.add_argument("--edit-script-llm-name", default=None, help="model for Edit Script (AI) (default: --fast-llm-name)")
    g.add_argument("--llm-base-url", default=None, help="OpenAI-compatible endpoint for all models")
    g.add_argument("--max-cost", type=_positive_float, default=None, help="stop the episode after this many USD")
    g.add_argument("--max-tokens", type=_positive_int, default=None, help="stop the episode after this many tokens")
    g.add_argument("--llm-cache", type=Path, default=None, help="on-disk response cache folder (replayable runs)")
    g.add_argument("--small-trace", action="store_true", help="store prompt hashes instead of full prompts")
    g.add_argument("--llm-retries", type=int, default=6, help="retries of a failed LLM call before the run ends with "
                   "status error (default 6, backing off up to 60 s)")
    add_agent_options(p)  # MLAgentBench's agent flags, declared in agents/options.py
    p.add_argument("--label", default=None, help="name of this configuration in eval, plot, report and view (default: agent, "
                   "model and the options that differ from the defaults)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    return p


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}")
    return v


def setup_logging(quiet: bool = False) -> None:
    """CLI-layer progress: the library logs, this shows it on stderr."""
    lg = logging.getLogger("mlgym")
    if any(getattr(h, "_mlgym_cli", False) for h in lg.handlers):
        return
    try:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, markup=False, rich_tracebacks=False, log_time_format="%H:%M:%S")
    except ImportError:  # pragma: no cover
        handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING if quiet else logging.INFO)
    handler._mlgym_cli = True  # type: ignore[attr-defined]
    lg.addHandler(handler)
    lg.setLevel(logging.INFO)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    from mlgym.runs import baseline
    from mlgym.agents import load_agent
    from mlgym.env.core import MLGymEnv

    agent_cls = load_agent(args.agent)  # fail fast, before any data preparation
    from mlgym.sandbox.backends import BACKENDS

    if args.sandbox not in BACKENDS:  # a usage mistake (exit 2), not a run that failed
        raise MLGymError(f"unknown sandbox {args.sandbox!r}; choose one of: {', '.join(BACKENDS)}")
    if args.resume is not None:
        done = _check_resume(args)
        if done is not None:
            return done
    args.task = args.task or DEFAULT_TASK
    first_use = args.resume is None and baseline.missing(args.task)
    if first_use and args.agent != "baseline":  # issue 10: measured on first use, and recorded
        baseline.measure(args.task, sandbox=args.sandbox, python=args.python, say=lambda m: print(m, file=sys.stderr),
                         unknown_ok=True)
    env = MLGymEnv(
        args.task, sandbox=args.sandbox, log_dir=args.log_dir, work_dir=args.work_dir, python=args.python,
        max_steps=args.max_steps, max_time=args.max_time, exec_timeout=args.exec_timeout, device=args.device,
        fsync=not args.no_fsync, tools=agent_tools(agent_cls, args), memory_mb=args.memory_mb, cpus=args.cpus,
        reward_mode=args.reward_mode,
    )
    agent = agent_cls(AgentOptions.from_namespace(args))  # typed options, not the namespace
    config = agent_config(args)
    run_info = {"agent": args.agent, "model": args.llm_name, "seed": args.seed, "agent_config": config,
                "label": args.label or default_label(args.agent, args.llm_name, config)}
    options: dict[str, Any] = {"run_info": run_info}
    if args.resume:
        options["resume"] = str(args.resume)
    try:
        try:
            obs, info = env.reset(seed=args.seed, options=options)
        except MLGymError as e:
            if _failed_start(env, args, run_info, e):
                raise RunFailed(str(e)) from e  # status error in result.json: exit 3, not a usage error
            raise
        _say_where(args.log_dir, env.log_dir)
        try:
            result = agent.run(env, obs, info)
        except (LLMError, SandboxError, DataError) as e:  # the service or the harness failed, not the agent: status error
            log.warning("run failed: %s", printable(str(e)))
            result = None
            if env.result is None:
                env.finish(reason=e.reason, status="error", error=f"{type(e).__name__}: {e}")
        except MLGymError as e:
            log.warning("agent stopped: %s", e)
            result = None
        if env.result is None:  # the agent stopped without ending the episode
            env.finish(reason="agent_stopped")
        final = result or env.result
        if first_use and args.agent == "baseline" and final and final.get("score") is not None and env.data is not None:
            baseline.record(env.data.dir, float(final["score"]), f"baseline agent on this data (first use, run {env.run_id})")
        elif first_use and args.agent == "baseline" and final and env.data is not None:
            baseline.record(env.data.dir, None, f"unknown: the starter code gives no valid submission (run {env.run_id})")
        return final
    except KeyboardInterrupt:
        where = env.log_dir
        mark_cancelled(env, run_info)
        print(f"\ninterrupted: trace kept in {where}; continue with --resume {where}", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        env.close()


# Runner flags that place or run the harness, not options of the agent (left out of agent_config).
_HARNESS_FLAGS = frozenset({
    "task", "agent", "log_dir", "work_dir", "sandbox", "device", "python", "seed", "resume", "no_fsync", "quiet", "label",
    "llm_base_url", "llm_cache", "small_trace", "benchmarks", "agent_type", "resume_step", "llm_retries",
})


def agent_config(args: argparse.Namespace) -> dict[str, Any]:
    """The options of this run that differ from the runner's defaults (limits, models, agent flags): ``agent_config``
    in the reset record and ``result.json``; two runs of one agent and model with different options get different
    default labels (:func:`mlgym.runlog.status.default_label`), so they never merge into one row."""
    defaults = vars(build_parser().parse_args([]))
    out: dict[str, Any] = {}
    for k, v in sorted(vars(args).items()):
        if k in _HARNESS_FLAGS or k.startswith("_") or k == "llm_name" or (k in defaults and v == defaults[k]):
            continue
        out[k] = str(v) if isinstance(v, Path) else v
    return out


class RunFailed(MLGymError):
    """The run could not start (sandbox, data, LLM) and its ``result.json`` says so (status error)."""


def _failed_start(env: Any, args: argparse.Namespace, run_info: dict[str, Any], e: MLGymError) -> bool:
    """A run that could not start (sandbox, data) still says so in its log folder: ``result.json`` with status error
    (True when written)."""
    reason = getattr(e, "reason", None)
    where = env.log_dir
    if reason is None or where is None or (Path(where) / "result.json").exists():
        return False
    write_json(Path(where) / "result.json", {
        "task": getattr(env.task, "name", args.task), "status": "error", "reason": reason, "error": f"{type(e).__name__}: {e}",
        "episode_finished": True, "steps": 0, "score": None, "improvement": None, "success": False,
        "log_dir": str(Path(where).resolve()), **run_info})
    return True


def mark_cancelled(env: Any, run_info: dict[str, Any] | None = None) -> None:
    """An episode interrupted before it ended: ``result.json`` with status cancelled, not scored (``--resume`` continues it)."""
    where = env.log_dir
    if where is not None and env.result is None and env.task is not None:
        write_json(Path(where) / "result.json", {
            "task": env.task.name, "status": "cancelled", "reason": "interrupted", "episode_finished": False,
            "steps": env.steps, "log_dir": str(Path(where).resolve()), **(run_info if run_info is not None else env.run_info)})


def _say_where(asked: Path | None, used: Path | str | None) -> None:
    """``--log-dir`` that already holds a run is never overwritten: the run goes to a sibling, said on one line."""
    if asked is not None and used is not None and Path(used).resolve() != Path(asked).resolve():
        print(f"note: {asked} already holds a run (continue it with --resume {asked}); this run writes to {used}",
              file=sys.stderr)


def _check_resume(args: argparse.Namespace) -> dict[str, Any] | None:
    """Settle what ``--resume`` continues; returns the result when the run already finished.

    The task (and seed) come from the trace's reset record: a different ``--task`` is an
    error, a missing one is taken from there.  A trace without a reset record (killed
    while starting) is started afresh in the same folder by the env.
    """
    from mlgym.runlog.jsonio import write_json
    from mlgym.tasks.spec import TaskSpec
    from mlgym.runlog.trace import load

    if not Path(args.resume).is_dir():
        raise MLGymError(f"cannot resume: {args.resume} is not a folder")
    try:
        reset = (trace := load(args.resume)).reset
    except FileNotFoundError:
        reset = None
    if reset is None:
        print(f"{args.resume}: nothing was recorded before the kill; starting the run afresh there", file=sys.stderr)
        return None
    recorded = str(reset.get("task"))
    if args.task is not None and TaskSpec.load(args.task).name != recorded:
        raise MLGymError(f"cannot resume {args.resume}: it is a run of task {recorded!r}, not {args.task!r} (leave --task out)")
    if args.task is None:
        root = reset.get("task_root")
        args.task = root if root and not _loads(recorded) and Path(root).is_dir() else recorded
    if isinstance(reset.get("seed"), int):
        args.seed = reset["seed"]
    result = trace.result
    if result is None:
        return None
    print(f"{args.resume}: the run already finished ({result.get('reason')}); nothing to resume", file=sys.stderr)
    if not (Path(args.resume) / "result.json").is_file():
        write_json(Path(args.resume) / "result.json", {k: v for k, v in result.items() if k not in ("type", "time")})
    return result


def use_benchmarks(dirs: Sequence[Path | str]) -> None:
    """``--benchmarks DIR``: put DIR first in ``$MLGYM_BENCHMARKS`` (this process and the ones it starts)."""
    if dirs:
        old = [p for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p]
        os.environ["MLGYM_BENCHMARKS"] = os.pathsep.join(dict.fromkeys([*(str(Path(d).resolve()) for d in dirs), *old]))


def _loads(task: str) -> bool:
    from mlgym.tasks.spec import TaskSpec

    try:
        TaskSpec.load(task)
        return True
    except MLGymError:
        return False


def summary(result: dict[str, Any], log_dir: str | Path) -> str:
    imp = result.get("improvement")
    lines = [
        f"task        {result['task']}  ({result['metric']}, {result['direction']} is better)",
        f"score       {_fmt(result.get('score'))}",
        f"baseline    {_fmt(result.get('baseline')) if result.get('baseline') is not None else 'unknown'}"
        + (f"  ({printable(str(result['baseline_source']), 200)})" if result.get("baseline_source") else ""),
        f"improvement {'n/a' if imp is None else f'{round(imp, 4) + 0.0:+.2%}'}",  # no "-0.00%"
        f"status      {result.get('status', 'success')}   solved {result.get('success')}",
        f"steps       {result.get('steps')}   wall time {result.get('wall_time', 0):.1f}s   ended by {result.get('reason')}",
    ]
    if result.get("error"):
        lines.append(f"error       {printable(result['error'], 2000)}")  # may quote the agent's output
    lines.append(f"trace       {Path(log_dir) / 'trace.jsonl'}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    use_benchmarks(args.benchmarks)
    if args.allow_partial_env:  # read where the task environment is built (mlgym.tasks.taskenv.partial_allowed)
        os.environ["MLGYM_ALLOW_PARTIAL_ENV"] = "1"
    setup_logging(args.quiet)
    if not capabilities(args.sandbox).daemon:  # quota mounts die with this process (Docker binds from the host's namespace)
        from mlgym.sandbox.mountns import enter_private

        enter_private()
    t0 = time.monotonic()
    try:
        result = run(args)
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3 if isinstance(e, RunFailed) else 2  # a run that failed to start (result.json: status error), or a usage error
    if result is None:
        print("error: the episode produced no result", file=sys.stderr)
        return 1
    print(summary(result, result["log_dir"]))
    log.debug("runner took %.1fs", time.monotonic() - t0)
    return 3 if result.get("status") == "error" else 0  # the harness or a service failed: not a result of the agent


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
