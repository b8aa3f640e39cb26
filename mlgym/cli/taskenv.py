"""``mlgym env``: the task environments agent code runs in (:mod:`mlgym.tasks.taskenv`).

    mlgym env build TASK [TASK ...] | --all [--wheelhouse DIR] [--force] [--docker]
    mlgym env list                      built environments, their keys and packages
    mlgym env download TASK|--all --wheelhouse DIR   fill a wheelhouse for offline builds
    mlgym env which TASK                the interpreter (and key) a task runs with
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mlgym.core.parsing import Parser
from mlgym.tasks import taskenv
from mlgym.core.errors import MLGymError
from mlgym.tasks.spec import TaskSpec, list_tasks


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _tasks(args: argparse.Namespace) -> list[TaskSpec]:
    if args.all == bool(args.task):
        raise MLGymError("name one or more tasks, or --all")
    names = list_tasks() if args.all else args.task
    out = []
    for name in names:
        try:
            out.append(TaskSpec.load(name))
        except MLGymError as e:
            if not args.all:
                raise
            _say(f"skipped {name}: {e}")
    return out


def _unique(tasks: list[TaskSpec]) -> dict[str, tuple[taskenv.TaskEnv, list[str]]]:
    """Environments by key, with the tasks that share each one."""
    envs: dict[str, tuple[taskenv.TaskEnv, list[str]]] = {}
    for t in tasks:
        env = taskenv.plan(t)
        envs.setdefault(env.key, (env, []))[1].append(t.name)
    return envs


def cmd_build(args: argparse.Namespace) -> int:
    tasks = _tasks(args)
    envs = _unique(tasks)
    for i, (key, (env, names)) in enumerate(envs.items(), 1):
        head = f"[{i}/{len(envs)}] {key} for {', '.join(names)}"
        if env.existing:
            _say(f"{head}: uses the existing interpreter {env.base_python}" + ("" if env.ready else " (MISSING)"))
            continue
        if env.ready and not args.force:
            _say(f"{head}: ready ({env.path})")
        else:
            _say(f"{head}: building {' '.join(env.requirements)}")
            taskenv.build(env, progress=lambda m: _say("    " + m), wheelhouse=args.wheelhouse, force=args.force)
        if args.docker:
            from mlgym.sandbox.base import EnvLayer
            from mlgym.sandbox.docker import DEFAULT_IMAGE, connect, env_image

            layer = taskenv.sandbox_options([t for t in tasks if t.name in names][0], "docker").get("env_layer")
            if isinstance(layer, EnvLayer):
                tag = env_image(connect(), args.image or DEFAULT_IMAGE, layer)
                _say(f"    docker image {tag}")
            else:
                _say("    docker: the task image holds the default environment")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    envs = taskenv.list_envs()
    if not envs:
        print(f"no task environments in {taskenv.env_root()}")
    for rec in envs:
        state = "incomplete (resumed by the next build)" if rec.get("incomplete") else f"{len(rec.get('installed') or [])} packages"  # type: ignore[arg-type]
        reqs = " ".join(str(r) for r in rec.get("requirements") or [])  # type: ignore[attr-defined]
        print(f"{rec.get('key')}  {state}  {reqs}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    for key, (env, names) in _unique(_tasks(args)).items():
        if env.existing:
            continue
        _say(f"{key} ({', '.join(names)}): downloading wheels into {args.wheelhouse}")
        taskenv.download(env.requirements, Path(args.wheelhouse), progress=lambda m: _say("    " + m), constraints=env.constraints)
    return 0


def cmd_which(args: argparse.Namespace) -> int:
    env = taskenv.plan(TaskSpec.load(args.task))
    print(f"{env.python}  key={env.key}  {'ready' if env.ready else 'not built (mlgym env build ' + args.task + ')'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="mlgym env", description="Task environments: the Python agent code runs in.")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    b = sub.add_parser("build", help="build task environments (once per content key; resumable)")
    b.add_argument("task", nargs="*")
    b.add_argument("--all", action="store_true", help="every task's environment")
    b.add_argument("--wheelhouse", help="install offline from this folder of wheels (--no-index)")
    b.add_argument("--force", action="store_true", help="rebuild even if ready")
    b.add_argument("--docker", action="store_true", help="also build the Docker image layer of tasks with extra requirements")
    b.add_argument("--image", help="the task image the Docker layer goes on (default: mlgym-task:latest)")
    b.set_defaults(func=cmd_build)
    sub.add_parser("list", help="built environments").set_defaults(func=cmd_list)
    d = sub.add_parser("download", help="fill a wheelhouse for offline builds (needs network)")
    d.add_argument("task", nargs="*")
    d.add_argument("--all", action="store_true")
    d.add_argument("--wheelhouse", required=True)
    d.set_defaults(func=cmd_download)
    w = sub.add_parser("which", help="the interpreter a task runs with")
    w.add_argument("task")
    w.set_defaults(func=cmd_which)
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
