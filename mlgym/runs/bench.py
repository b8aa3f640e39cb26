"""``mlgym bench GRID.yaml``: run tasks x agents x seeds, in parallel, resumably.

    name: smoke                       # optional
    tasks: [digits, house-prices]
    agents:                           # names, or {name, args} with extra runner flags
      - baseline
      - {name: research, args: ["--llm-name", "openai/gpt-4o-mini", "--max-cost", "1"]}
    seeds: [0, 1, 2]                  # or a count: 3
    args: ["--max-steps", "30"]       # runner flags for every run
    sandbox: local

Each run is its own ``python -m mlgym.runner`` process (a crash or a leak in one run
cannot take the grid down) writing to ``OUT/<task>/<agent>/seed<k>/``.  Running the
same command again skips finished runs (``result.json``), continues runs that were cut
short (``--resume``) and starts the rest.  At the end the table of ``mlgym eval`` is
written to ``OUT/eval/``.  Runs fan out over local processes (``-j``) or, with
``--ray``, over a Ray cluster.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError
from mlgym.families.base import BenchAdapter, BenchContext
from mlgym.tasks.catalog import plugins


def bench_adapters() -> list[BenchAdapter]:
    """The families' parts in ``mlgym bench`` (plugins ``bench_adapters``, by name)."""
    return [a for _name, a in plugins("bench_adapters") if isinstance(a, BenchAdapter)]


@dataclasses.dataclass(frozen=True)
class Run:
    task: str
    agent: str
    agent_args: tuple[str, ...]
    seed: int
    log_dir: Path

    @property
    def label(self) -> str:
        return f"{self.task} / {self.agent} / seed {self.seed}"

    def state(self) -> str:
        """From the trace, not result.json: ``mlgym score --write`` scores a cut-short run
        without finishing it, and a run killed before its reset record has nothing to resume."""
        from mlgym.runlog.trace import load

        try:
            trace = load(self.log_dir)
        except FileNotFoundError:
            return "new"
        if trace.finished:
            from mlgym.runlog.status import run_status

            return "error" if run_status(trace.result) == "error" else "done"
        return "cut short" if trace.reset is not None else "new"


@dataclasses.dataclass(frozen=True)
class Grid:
    name: str
    out: Path
    runs: tuple[Run, ...]
    args: tuple[str, ...]
    sandbox: str
    env: tuple[tuple[str, str], ...] = ()  # extra environment of every run (e.g. an AutoGluon-Bench amlb_user_dir)


def load_grid(path: Path, out: Path | None = None) -> Grid:
    """Read and check a grid file; a mistake is one :class:`MLGymError` naming file and field."""
    from mlgym.agents import load_agent
    from mlgym.tasks.spec import TaskSpec

    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MLGymError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise MLGymError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', None) or str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise MLGymError(f"{path}: expected a mapping with tasks, agents and seeds")
    adapters = bench_adapters()  # families' grid formats (AMLB, AutoGluon-Bench configs...)
    env: dict[str, str] = {}
    for adapter in adapters:
        if adapter.claims(raw):  # a config file in a family's own format
            raw, own_out, env = adapter.from_config(path, raw)
            out = out or own_out
    keys = {a.grid_key: a for a in adapters if a.grid_key}
    known = ["name", "tasks", *keys, "agents", "seeds", "args", "sandbox"]
    unknown = set(raw) - set(known)
    if unknown:
        raise MLGymError(f"{path}: unknown fields {sorted(unknown)}; known: {', '.join(known)}")
    tasks = raw.get("tasks", [] if any(k in raw for k in keys) else None)
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        raise MLGymError(f"{path}: tasks: give a list of task names")
    for key, adapter in keys.items():
        tasks = tasks + (adapter.grid_tasks(path, raw[key]) if key in raw else [])
    if not tasks:
        hints = "".join(f" (or {a.grid_hint})" for a in keys.values())
        raise MLGymError(f"{path}: tasks: give a list of task names{hints}")
    for t in tasks:
        TaskSpec.load(t)  # unknown task: TaskError naming the known ones
    agents: list[tuple[str, tuple[str, ...]]] = []
    for a in raw.get("agents") or []:
        if isinstance(a, str):
            agents.append((a, ()))
        elif isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("args", []), list):
            if set(a) - {"name", "args", "label"}:
                raise MLGymError(f"{path}: agents: unknown key(s) {sorted(set(a) - {'name', 'args', 'label'})} in {a!r}; "
                                 "known: name, args, label")
            label = (("--label", str(a["label"])) if a.get("label") else ())
            agents.append((a["name"], tuple(str(x) for x in a.get("args", [])) + label))
        else:
            raise MLGymError(f"{path}: agents: each entry is a name or {{name, args: [flags]}}, got {a!r}")
    if not agents:
        raise MLGymError(f"{path}: agents: give at least one agent")
    for name, _ in agents:
        load_agent(name)
    seeds = raw.get("seeds", 1)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > 0:
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise MLGymError(f"{path}: seeds: give a positive count or a list of integers")
    args = raw.get("args", [])
    if not isinstance(args, list):
        raise MLGymError(f"{path}: args: give a list of runner flags")
    names = [n for n, _ in agents]
    name = str(raw.get("name") or path.stem)
    out = out or Path("runs") / name
    runs = tuple(
        Run(t, name, extra, s, out / t / _folder(name, extra, names.count(name) == 1, i) / f"seed{s}")
        for t in tasks for i, (name, extra) in enumerate(agents) for s in seeds
    )
    return Grid(name, out, runs, tuple(str(x) for x in args), str(raw.get("sandbox", "local")), tuple(env.items()))


def _folder(name: str, extra: tuple[str, ...], only: bool, i: int) -> str:
    """``<agent>``, or ``<label>`` for an entry with a label, or ``<agent>-<i>`` for the i-th of several unlabelled ones."""
    import re

    if "--label" in extra:
        return re.sub(r"[^A-Za-z0-9_.+-]+", "-", extra[extra.index("--label") + 1]).strip("-.") or f"{name}-{i}"
    return name if only else f"{name}-{i}"


def check_args(grid: Grid) -> None:
    """Every run's runner flags parse (caught at ``--dry-run``, not in every run's log)."""
    import contextlib
    import io

    from mlgym.runs.runner import build_parser

    parser = build_parser()
    for run in grid.runs:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(["--task", run.task, "--agent", run.agent, *grid.args, *run.agent_args])
        except SystemExit:
            msg = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "bad flags"
            raise MLGymError(f"{run.label}: bad runner flags in the grid's args: {msg}") from None


def command(grid: Grid, run: Run, work_dir: Path) -> list[str]:
    argv = [sys.executable, "-m", "mlgym.runs.runner", "--task", run.task, "--agent", run.agent, "--seed", str(run.seed),
            "--sandbox", grid.sandbox, "--work-dir", str(work_dir), "-q", *grid.args, *run.agent_args]
    if run.state() == "cut short":
        return argv + ["--resume", str(run.log_dir)]
    return argv + ["--log-dir", str(run.log_dir)]


def execute(grid: Grid, run: Run, work_dir: Path) -> tuple[Run, int, float]:
    run.log_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(run.log_dir / "runner.log", "ab") as log:
        rc = subprocess.run(command(grid, run, work_dir), stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **dict(grid.env)}).returncode
    return run, rc, time.monotonic() - t0


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="mlgym bench", description="Run a grid of tasks x agents x seeds (resumable).")
    p.add_argument("grid", type=Path, help="grid YAML file")
    p.add_argument("--out", type=Path, default=None, help="folder for the runs (default: runs/<grid name>)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run on Ray: 'local' starts a local cluster, 'auto' or ray://host:port joins one")
    p.add_argument("--dry-run", action="store_true", help="check the grid and every run's flags, print what would run and exit")
    p.add_argument("--retry-errors", action="store_true",
                   help="run again the runs that ended with status error (LLM unreachable, sandbox failure...); their old "
                        "folders are kept as <folder>.error-<time>")
    a = p.parse_args(argv)
    if a.jobs < 1:
        raise MLGymError(f"--jobs must be at least 1, got {a.jobs}")
    grid = load_grid(a.grid, a.out)
    out = grid.out
    check_args(grid)
    errors = [r for r in grid.runs if r.state() == "error"]
    if a.retry_errors and not a.dry_run:
        for r in errors:
            r.log_dir.rename(r.log_dir.with_name(f"{r.log_dir.name}.error-{int(time.time())}"))
    todo = [r for r in grid.runs if r.state() != "done" and (a.retry_errors or r.state() != "error")]
    if errors and not a.retry_errors:
        print(f"{len(errors)} run(s) ended with status error; run again with --retry-errors to retry them")
    print(f"{grid.name}: {len(grid.runs)} runs, {len(grid.runs) - len(todo)} done, {len(todo)} to run, {a.jobs} at a time -> {out}")
    if a.dry_run:
        for r in grid.runs:
            print(f"  [{r.state():9}] {r.label}: {' '.join(command(grid, r, out / '.workspaces')[1:])}")
        return 0
    work = (out / ".workspaces").resolve()
    results = _ray(grid, todo, work, a.ray) if a.ray else _local(grid, todo, work, a.jobs)
    failed = _run_all(grid, results, len(todo))
    from mlgym.analysis import eval as ev

    ev.main([str(out), "--out", str(out / "eval"), "-q"])
    print(f"table: {out / 'eval' / 'table.json'}")
    written: list[Path] = []
    for adapter in sorted(bench_adapters(), key=lambda x: not x.results_name_fixed):  # a family's results file (AMLB's results.csv...)
        ctx = BenchContext(tag=grid.name, mode="ray" if a.ray else "local", env=dict(grid.env), written=tuple(written))
        path = adapter.write_results(grid.runs, out, ctx)
        if path is not None:
            written.append(path)
            print(f"{adapter.results_label}: {path}")
    if failed:
        print(f"{len(failed)} run(s) failed; see runner.log in: " + ", ".join(str(r.log_dir) for r in failed), file=sys.stderr)
        return 1
    return 0


def _local(grid: Grid, todo: list[Run], work_dir: Path, jobs: int) -> Iterator[tuple[Run, int, float]]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(execute, grid, r, work_dir) for r in todo]
        try:
            for f in as_completed(futures):
                yield f.result()
        finally:
            for f in futures:
                f.cancel()


def _ray(grid: Grid, todo: list[Run], work_dir: Path, address: str) -> Iterator[tuple[Run, int, float]]:
    """Each run as a Ray task (1 CPU).  On a cluster, OUT must be on storage every node
    sees, and every node needs mlgym installed (the run uses the worker's Python)."""
    try:
        import ray
    except ImportError:
        raise MLGymError("--ray needs Ray: pip install 'mlgym[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    try:
        adapters = bench_adapters()

        def ray_resources(task: str) -> dict[str, float]:  # a family's constraint (AMLB's cores and memory), else one CPU
            return next((r for ad in adapters if (r := ad.ray_resources(task)) is not None), {"num_cpus": 1.0})

        remote = ray.remote(num_cpus=1)(_on_ray_node)
        alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call,unused-ignore]
        most = {k: max(r.get(k, 0.0) for r in alive) for k in ("CPU", "memory")} if alive else {}

        def fits(run: Run) -> dict[str, float]:  # a constraint bigger than every node would wait for ever: cap it
            want = ray_resources(run.task)
            return {"num_cpus": min(want["num_cpus"], most.get("CPU") or want["num_cpus"]),
                    **({"memory": min(want["memory"], most.get("memory") or want["memory"])} if "memory" in want else {})}

        pending = [remote.options(**fits(r)).remote(grid, r, work_dir.resolve()) for r in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _on_ray_node(grid: Grid, run: Run, work_dir: Path) -> tuple[Run, int, float]:
    """:func:`execute` on a Ray node, noting the node in ``ray_nodes.txt`` (a retried run lists each node it ran on)."""
    import ray

    run.log_dir.mkdir(parents=True, exist_ok=True)
    with open(run.log_dir / "ray_nodes.txt", "a") as f:
        f.write(ray.get_runtime_context().get_node_id() + "\n")
    return execute(grid, run, work_dir)


def _run_all(grid: Grid, results: Iterator[tuple[Run, int, float]], total: int) -> list[Run]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    failed: list[Run] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        job = bar.add_task(grid.name, total=total)
        try:
            for run, rc, secs in results:
                bar.advance(job)
                bar.console.print(f"{_outcome(run, rc)} {run.label} ({secs:.0f}s){_score(run)}")
                if rc != 0:
                    failed.append(run)
        except KeyboardInterrupt:
            bar.console.print("interrupted: run the same command again to resume")
            raise
    return failed


def _outcome(run: Run, rc: int) -> str:
    """``ok``, ``no submission``, ``error (reason)``, ``cancelled`` or ``FAILED``: what the run's result says."""
    import json

    try:
        r: dict[str, Any] = json.loads((run.log_dir / "result.json").read_text())
    except (OSError, ValueError):
        return "FAILED" if rc != 0 else "ok"
    from mlgym.runlog.status import run_status

    status = run_status(r)
    if status != "success":
        return f"{status} ({r.get('reason')})"
    return "ok" if r.get("valid_submission") else "no submission"


def _score(run: Run) -> str:
    import json

    try:
        r: dict[str, Any] = json.loads((run.log_dir / "result.json").read_text())
    except (OSError, ValueError):
        return ""
    imp = r.get("improvement")
    return f": {r.get('metric')} {r.get('score')}, improvement {'n/a' if imp is None else f'{round(imp, 3) + 0.0:+.1%}'}"
