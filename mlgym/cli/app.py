"""The ``mlgym`` console command.

    mlgym tasks [--family NAME]       list tasks with family, metric and baseline
    mlgym prepare TASK [--verify]     prepare (or check) a task's data
    mlgym run ...                     same flags as python -m mlgym.runner
    mlgym baseline TASK               measure the starter's score on the prepared data
    mlgym score LOG_DIR               score a run (also one cut short) from its trace
    mlgym sandbox build|gc|check      Docker images and sandbox self-checks
    mlgym env build|list|which        the per-task Python environments agent code runs in
    mlgym eval | plot | report        many runs -> tables, figures, a browsable page
    mlgym mlbench-llm ...             ML-Bench's one-shot setting: Pass@k of a model without the agent loop
                                      (a family's command: entry points in mlgym.commands add them)
    mlgym export RUNS --format F --out P   episodes as training data (chat, openai JSONL; hf dataset)
    mlgym rollout --agent A -n N      N episodes at once, each env in a worker process
    mlgym serve --task T --port P     a task over OpenEnv's protocol for RL trainers (docs/rl.md)

Subcommands living in other modules are dispatched lazily to ``module:main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence, cast

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError

DELEGATED = {
    "run": "mlgym.runs.runner:main",
    "sandbox": "mlgym.cli.sandbox:main",
    "eval": "mlgym.analysis.eval:main",
    "plot": "mlgym.analysis.plot:main",
    "report": "mlgym.analysis.report:main",
    "bench": "mlgym.runs.bench:main",
    "export": "mlgym.analysis.export:main",
    "rollout": "mlgym.runs.rollout:main",
    "env": "mlgym.cli.taskenv:main",
    "view": "mlgym.cli.view:main",
    "agents": "mlgym.cli.agents:main",
    "serve": "mlgym.cli.serve:main",
}
# One line of `mlgym --help` per delegated command (each has its own --help).
HELP = {
    "run": "run one agent episode on one task (same flags as python -m mlgym.runner)",
    "sandbox": "Docker images, garbage collection and sandbox self-checks",
    "eval": "score and tabulate runs: success rate, improvement, CIs, grouped by task and label",
    "plot": "figures from runs or eval output (score over steps, performance profiles, AUP)",
    "report": "a self-contained HTML page over a folder of runs",
    "bench": "run a grid of tasks x agents x seeds from a YAML file (resumable, --retry-errors)",
    "export": "runs as training data: chat / openai JSONL or a Hugging Face dataset",
    "rollout": "N episodes of one agent at once, each env in a worker process",
    "env": "the per-task Python environments agent code runs in (build, list, which)",
    "view": "a live web viewer over run folders: runs index, each run's steps and LLM replies",
    "agents": "list the built-in agents and their options",
    "serve": "serve a task over OpenEnv's protocol for RL trainers (sessions = episodes, many at once; docs/rl.md)",
}


BUILT_IN = ("tasks", "prepare", "baseline", "score")


def cmd_tasks(args: argparse.Namespace) -> int:
    """Every task of every family: family, metric, direction, baseline (measured here if recorded)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mlgym.tasks.data import TaskData
    from mlgym.grading.scoring import baseline_for
    from mlgym.tasks.spec import TaskSpec, list_tasks, read_yaml, task_paths

    if args.family is not None:
        from mlgym.core.parsing import did_you_mean
        from mlgym.tasks.catalog import kinds

        known = sorted(kinds())
        if args.family not in known:
            raise MLGymError(f"unknown family {args.family!r}{did_you_mean(args.family, known)}; known: {', '.join(known)}")
    table = Table("task", "family", "metric", "better", "baseline", "submission", "data")
    paths = task_paths()
    for name in list_tasks():
        try:
            t = TaskSpec.load(name)
        except MLGymError as e:
            try:
                kind = str(read_yaml(paths[name][0]).get("kind", "folder"))
            except (MLGymError, IndexError):
                kind = "?"
            if not args.family or args.family == kind:
                table.add_row(escape(name), escape(kind), "[red]invalid[/red]", "", "", "", escape(str(e)))
            continue
        if args.family and t.kind != args.family:
            continue
        data = TaskData(t)
        base, _how = baseline_for(t, data)
        ready = "ready" if data.is_ready() else "not prepared"
        table.add_row(t.name, t.kind, t.metric, t.direction, "not measured" if base is None else f"{base:g}", ", ".join(t.submission), ready)
    from mlgym.tasks.catalog import row_sources

    notes = []
    for kind, rows in row_sources():  # tasks that are dataset rows
        note = rows.rows_note()
        if args.family is None and note is not None:  # loading them needs the hub: say how instead
            notes.append(f"{kind}: {note}")
            continue
        if args.family in (None, kind):
            for name in rows.task_names():
                t = TaskSpec.load(name)
                table.add_row(escape(t.name), t.kind, t.metric, t.direction, f"{t.baseline.score:g}" if t.baseline.score is not None
                              else "not measured", escape(", ".join(t.submission)), "ready" if TaskData(t).is_ready() else "not prepared")
    console = Console(width=None if sys.stdout.isatty() else 160)  # piped: do not squeeze
    console.print(table)
    for note in notes:
        console.print(escape(note), highlight=False)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from mlgym.tasks.data import prepare
    from mlgym.tasks.spec import TaskSpec, list_tasks

    names = list_tasks() if args.task == ["all"] else args.task
    if args.yes:  # consent to what a task's own prepare script asks (MLAgentBench's Kaggle rules prompt)
        os.environ["MLGYM_ASSUME_YES"] = "1"
    for name in names:
        data = prepare(TaskSpec.load(name), force=args.force, verify=args.verify)
        print(f"{name}: ready in {data.dir}")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    """Run the baseline agent on the prepared data and record its score as the baseline."""
    from mlgym.runs.baseline import measure
    from mlgym.tasks.spec import TaskSpec

    result = measure(args.task, sandbox=args.sandbox, python=args.python)
    task = TaskSpec.load(args.task)
    said = "not measured" if task.baseline.score is None else f"{task.baseline.score:g}"
    print(f"{args.task}: baseline {task.metric} = {result['score']:.4f} (recorded in {Path(result['data_dir']) / 'baseline.json'}; "
          f"the task's YAML says {said})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score a run from its log folder, e.g. one killed before its Final Answer."""
    from mlgym.runlog.jsonio import write_json
    from mlgym.analysis.eval import score_log_dir

    result = score_log_dir(args.log_dir, sandbox=args.sandbox)
    if args.write:
        write_json(Path(args.log_dir) / "result.json", result)
    print(json.dumps(result, indent=2))
    return 0


def _delegate(target: str) -> Callable[[Sequence[str]], int]:
    module, _, func = target.partition(":")

    def run(argv: Sequence[str]) -> int:
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise MLGymError(f"this command is not available: {e}") from None
        return int(getattr(mod, func)(list(argv)) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym", description="ML engineering tasks as Gymnasium environments.")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    st = sub.add_parser("tasks", help="list tasks of every family")
    st.add_argument("--family", help="only this family's tasks (e.g. folder, kaggle)")
    st.set_defaults(func=cmd_tasks)
    sp = sub.add_parser("prepare", help="prepare task data (idempotent, resumable)")
    sp.add_argument("task", nargs="+", help="task names, or 'all'")
    sp.add_argument("--force", action="store_true", help="prepare again even if ready")
    sp.add_argument("--verify", action="store_true", help="check every file's SHA-256")
    sp.add_argument("--yes", action="store_true", help="answer yes to a prepare script's questions (e.g. MLAgentBench's "
                    "consent to a Kaggle competition's rules); the same as MLGYM_ASSUME_YES=1")
    sp.set_defaults(func=cmd_prepare)
    sb = sub.add_parser("baseline", help="measure the starter code's score on the prepared data")
    sb.add_argument("task")
    sb.add_argument("--sandbox", default="local")
    sb.add_argument("--python", default=None, help="Python interpreter the starter runs with (as the runner's --python)")
    sb.set_defaults(func=cmd_baseline)
    ss = sub.add_parser("score", help="score a run from its log folder")
    ss.add_argument("log_dir", type=Path)
    ss.add_argument("--sandbox", default="local")
    ss.add_argument("--write", action="store_true", help="write result.json into the log folder")
    ss.set_defaults(func=cmd_score)
    for name in DELEGATED:
        sub.add_parser(name, help=HELP.get(name, f"see `mlgym {name} --help`"), add_help=False)
    for name, cmd in family_commands().items():
        doc = (getattr(cmd, "__doc__", None) or "").strip().splitlines()
        sub.add_parser(name, help=doc[0] if doc else f"a family's command (see `mlgym {name} --help`)", add_help=False)
    return p


def family_commands() -> dict[str, Callable[[Sequence[str]], int]]:
    """Subcommands the families add (plugins ``commands``: name -> ``main(argv)``)."""
    from mlgym.tasks.catalog import plugins

    return {name: cast("Callable[[Sequence[str]], int]", main) for name, main in plugins("commands")
            if callable(main) and name not in DELEGATED}


def _take_benchmarks(argv: list[str]) -> list[str]:
    """``--benchmarks DIR`` anywhere on the command line (every subcommand): a folder of tasks
    that win over built-ins of the same name, as ``MLGYM_BENCHMARKS=DIR``; the rest is returned."""
    from mlgym.runs.runner import use_benchmarks

    rest, dirs, i = [], [], 0
    while i < len(argv):
        if argv[i] == "--benchmarks" and i + 1 < len(argv):
            dirs.append(argv[i + 1])
            i += 2
            continue
        if argv[i].startswith("--benchmarks="):
            dirs.append(argv[i].partition("=")[2])
        else:
            rest.append(argv[i])
        i += 1
    use_benchmarks(dirs)
    return rest


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = _take_benchmarks(argv)
    try:
        if argv and argv[0] in DELEGATED:
            return _delegate(DELEGATED[argv[0]])(argv[1:])
        if argv and not argv[0].startswith("-") and argv[0] not in BUILT_IN:
            own = family_commands().get(argv[0])
            if own is not None:
                return int(own(list(argv[1:])) or 0)
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        from mlgym.runs.runner import setup_logging

        setup_logging()
        return int(args.func(args))
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mlgym ... | head`: the reader left; say nothing more (the Python docs' recipe)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
