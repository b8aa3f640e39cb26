"""Many episodes at once: each env in its own worker process, driven by a batched policy or by agents.

    from mlgym.rollout import rollout, run_agents
    eps = rollout("digits", policy, n=8, seed=0, log_dir="runs/r")      # policy(observations, infos) -> actions
    eps = run_agents("digits", "search", n=8, seed=0, log_dir="runs/r")  # any agent using only the public API

    mlgym rollout --task digits --agent search -n 8 --seed 0 --log-dir runs/r [--max-steps 7]

Episode ``i`` runs in ``LOG_DIR/ep<i>`` with seed ``seed + i`` (its env's reset seed, and the
agent's ``--seed``); with ``group_size=K`` (GRPO groups) episodes ``i`` with the same ``i // K``
form group ``i // K``, reset from the same seed ``seed + i // K``, and each :class:`Episode`
carries its group's statistics (:mod:`mlgym.analysis.groups`).  ``pool=``: the envs live in a
Ray :class:`~mlgym.runs.envpool.EnvPool` (other machines) instead of worker processes here.  Nothing waits in lockstep: :func:`rollout` calls the policy on the
observations that are ready (a batch of one or more), so a long ``Execute Script`` or a
slow final evaluation in one episode does not hold the others; :func:`run_agents` runs
each agent in a thread of this process against its env in a worker.  Same seeds, same
policy (acting on each row alone, e.g. a replayed LLM cache): the same trajectories, in
whatever batches they were computed.  Each worker builds its env with the keyword
arguments given here (``max_steps``, ``sandbox``, ``tools``, ...), like ``gym.make``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import gymnasium as gym

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError
from mlgym.runs.envproxy import PUBLIC_METHODS, _PublicMethods

__all__ = ["Episode", "RemoteEnv", "VectorSlot", "main", "rollout", "run_agents"]

Policy = Callable[[list[str], list[dict[str, Any]]], Sequence[Any]]
# A worker that found itself started while its parent's script was being re-imported (spawn, no __main__ guard)
# exits with this code; the parent then says so in one line.
_NO_MAIN_GUARD = 86
NO_MAIN_GUARD = ("a worker process re-ran your script while starting (multiprocessing's spawn imports __main__ again): "
                 "put the code that calls rollout() / run_agents() under `if __name__ == \"__main__\":`")


class MainGuardMissing(MLGymError):
    """The script that calls :func:`rollout` has no ``if __name__ == "__main__":`` guard."""


class _Cancelled(BaseException):
    """SIGTERM from the parent (after a Ctrl-C there): stop what the env is doing, mark the episode cancelled."""


def _cancel(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up that follows is not interrupted
    raise _Cancelled


def _refuse_while_bootstrapping() -> None:
    """In a spawned worker still importing the parent's ``__main__`` (no guard there): leave quietly (the parent explains)."""
    if getattr(mp.current_process(), "_inheriting", False):
        raise SystemExit(_NO_MAIN_GUARD)


def _serve(conn: Connection, env_kwargs: dict[str, Any]) -> None:
    """The worker: one MLGymEnv, commands from the pipe (reset, step, finish, close).  Ctrl-C reaches the whole
    process group: the parent alone answers it (SIGINT ignored here); its SIGTERM cancels the episode."""
    from mlgym.env.core import MLGymEnv
    from mlgym.runs.runner import mark_cancelled

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _cancel)
    env: MLGymEnv | None = None
    try:
        env = MLGymEnv(**env_kwargs)
        _commands(conn, env)
    except _Cancelled:
        if env is not None:
            mark_cancelled(env)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if env is not None:
            env.close()


def _commands(conn: Connection, env: Any) -> None:
    """Answer the parent's commands until it closes the pipe."""
    while True:
        try:
            cmd, arg = conn.recv()
        except EOFError:
            return
        if cmd == "close":
            return
        try:
            if cmd == "reset":
                out: Any = env.reset(seed=arg["seed"], options=arg.get("options"))
            elif cmd == "step":
                out = env.step(arg)
            elif cmd == "finish":
                out = (env.finish(arg), env.result)
            elif cmd == "call":  # a public env method (PUBLIC_METHODS), as VectorEnv.call reaches it
                name, args = arg
                if name not in PUBLIC_METHODS:
                    raise MLGymError(f"{name!r} is not a public env method; one of: {', '.join(PUBLIC_METHODS)}")
                out = (getattr(env, name)(*args), env.result)
            else:
                raise MLGymError(f"unknown worker command {cmd!r}")
            conn.send(("ok", out))
        except Exception as e:  # noqa: BLE001 - handed to the caller, who raises it
            conn.send(("error", f"{type(e).__name__}: {e}" if not isinstance(e, MLGymError) else str(e)))


class RemoteEnv(_PublicMethods, gym.Env[str, Any]):
    """An :class:`~mlgym.env.core.MLGymEnv` in a worker process, behind the same reset/step/close."""

    def __init__(self, **env_kwargs: Any) -> None:
        _refuse_while_bootstrapping()
        ctx = mp.get_context("spawn")  # no fork of a threaded parent
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, env_kwargs), daemon=True)
        self._proc.start()
        child.close()
        self.result: dict[str, Any] | None = None

    def _call(self, cmd: str, arg: Any) -> Any:
        self._conn.send((cmd, arg))
        return self.receive()

    def receive(self) -> Any:
        try:
            status, out = self._conn.recv()
        except (EOFError, ConnectionResetError):
            self._proc.join(timeout=5)
            if self._proc.exitcode == _NO_MAIN_GUARD:
                raise MainGuardMissing(NO_MAIN_GUARD) from None
            raise MLGymError(f"the env worker (pid {self._proc.pid}) died") from None
        if status != "ok":
            raise MLGymError(str(out))
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        obs, info = self._call("reset", {"seed": seed, "options": options})
        return str(obs), dict(info)

    def send_step(self, action: Any) -> None:
        self._conn.send(("step", action))

    def send_reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self._conn.send(("reset", {"seed": seed, "options": options}))

    @property
    def waitable(self) -> Any:
        """What :meth:`wait` waits on for this env's call in flight (its pipe)."""
        return self._conn

    @staticmethod
    def wait(handles: Sequence[Any]) -> list[Any]:
        """The handles (:attr:`waitable`) whose call has answered: at least one, blocking."""
        return list(wait(list(handles)))

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.send_step(action)
        return self._stepped(self.receive())

    def finish(self, reason: str) -> float:
        reward, self.result = self._call("finish", reason)
        return float(reward)

    def _remote(self, name: str, *args: Any) -> Any:
        out, result = self._call("call", (name, args))
        if result is not None:
            self.result = result
        return out

    @property
    def connection(self) -> Connection:
        return self._conn

    def cancel(self) -> None:
        """Stop the episode now (Ctrl-C in the parent): SIGTERM; the worker marks it cancelled (result.json) and
        closes its env; :meth:`close` then waits for it."""
        if self._proc.is_alive():
            self._proc.terminate()

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(timeout=60)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()


def _unbatch(x: Any) -> Any:
    """Row 0 of a vector env's batched value (infos are dicts of arrays, nested; ``_key`` masks dropped)."""
    if isinstance(x, dict):
        return {k: _unbatch(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, (tuple, list)) or hasattr(x, "shape"):
        x = x[0]
    return x.item() if hasattr(x, "item") and not isinstance(x, (str, bytes)) else x


class VectorSlot(_PublicMethods, gym.Env[str, Any]):
    """A one-env ``gymnasium.vector.AsyncVectorEnv`` seen as a plain env, so an agent's ``run`` drives it
    unchanged while the env lives in the vector env's worker process::

        envs = gym.vector.AsyncVectorEnv([lambda: gym.make("mlgym/digits-v0")], shared_memory=False)
        slot = VectorSlot(envs)
        obs, info = slot.reset(seed=0, options={"run_info": {"agent": "tools"}})
        agent.run(slot, obs, info)
    """

    def __init__(self, envs: Any) -> None:
        if envs.num_envs != 1:
            raise MLGymError(f"VectorSlot wraps a vector env of one env, not {envs.num_envs}")
        self.envs = envs
        self.result: dict[str, Any] | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        obs, infos = self.envs.reset(seed=seed, options=options)
        return str(obs[0]), dict(_unbatch(infos))

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, infos = self.envs.step((action,))
        info = dict(_unbatch(infos))
        if info.get("result") is not None:
            self.result = info["result"]
        return str(obs[0]), float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def _remote(self, name: str, *args: Any) -> Any:
        """A public env method in the vector env's worker (``VectorEnv.call``)."""
        return self.envs.call(name, *args)[0]

    def finish(self, reason: str) -> float:
        reward = float(self._remote("finish", reason))
        self.result = self.envs.get_attr("result")[0]
        return reward


@dataclasses.dataclass
class Episode:
    index: int
    seed: int
    log_dir: Path
    result: dict[str, Any] | None = None
    rewards: list[float] = dataclasses.field(default_factory=list)
    wall_time: float = 0.0
    group: int = 0
    group_mean: float | None = None  # the group's mean reward (mlgym.analysis.groups)
    group_std: float | None = None
    advantage: float | None = None  # reward - group_mean

    @property
    def reward(self) -> float:
        return float((self.result or {}).get("reward") or 0.0)


def _envs(task: str, n: int, log_dir: Path, env_kwargs: dict[str, Any], pool: Any = None) -> list[Any]:
    """``n`` envs: worker processes here, or actors of ``pool`` (an :class:`~mlgym.runs.envpool.EnvPool`)."""
    from mlgym.runs import baseline

    _refuse_while_bootstrapping()
    if baseline.missing(task):  # measured once here, not by every worker at the same time
        baseline.measure(task, sandbox=env_kwargs.get("sandbox", "local"), python=env_kwargs.get("python"))
    work = env_kwargs.pop("work_dir", None) or Path("workspaces")
    make = RemoteEnv if pool is None else pool.make
    return [make(task=task, log_dir=log_dir / f"ep{i:03d}", work_dir=work, **env_kwargs) for i in range(n)]


def _close_all(envs: Sequence[Any], *, cancel: bool = False) -> None:
    """Close every env.  ``cancel`` (a Ctrl-C here): each worker is told to stop first (its episode's result.json says
    cancelled), all at once, with a second Ctrl-C ignored meanwhile; then each is waited for."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if cancel and threading.current_thread() is threading.main_thread() else None
    try:
        if cancel:
            for env in envs:
                getattr(env, "cancel", lambda: None)()
        for env in envs:
            env.close()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _episodes(n: int, seed: int, group_size: int, log_dir: Path) -> list[Episode]:
    if group_size < 1:
        raise MLGymError(f"group_size must be at least 1, not {group_size}")
    return [Episode(i, seed + i // group_size, log_dir / f"ep{i:03d}", group=i // group_size) for i in range(n)]


def _run_info(ep: Episode, group_size: int, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {"seed": ep.seed, **({"group": ep.group, "group_size": group_size} if group_size > 1 else {}), **(extra or {})}


def _group_stats(eps: list[Episode]) -> list[Episode]:
    from mlgym.analysis.groups import group_stats

    rows, _ = group_stats([e.group for e in eps], [e.reward if e.result is not None else None for e in eps])
    for ep, row in zip(eps, rows):
        ep.group_mean, ep.group_std, ep.advantage = row["group_mean"], row["group_std"], row["advantage"]
    return eps


def rollout(task: str, policy: Policy, n: int, *, seed: int = 0, log_dir: str | Path = "runs/rollout",
            run_info: dict[str, Any] | None = None, group_size: int = 1, pool: Any = None, **env_kwargs: Any) -> list[Episode]:
    """Run ``n`` episodes at once; ``policy(observations, infos)`` gets the ready rows (each info has
    ``episode``, ``seed`` and ``group``) and returns one action per row.  ``group_size``: episodes
    per group (same seed); ``pool``: an :class:`~mlgym.runs.envpool.EnvPool` to run the envs on."""
    eps = _episodes(n, seed, group_size, Path(log_dir))
    envs = _envs(task, n, Path(log_dir), env_kwargs, pool)
    wait_any = type(envs[0]).wait
    interrupted = False
    try:
        start = time.monotonic()
        for ep, env in zip(eps, envs):
            env.send_reset(seed=ep.seed, options={"run_info": _run_info(ep, group_size, run_info)})
        ready: dict[int, tuple[str, dict[str, Any]]] = {}
        pending = {env.waitable: i for i, env in enumerate(envs)}
        first = set(range(n))
        while pending or ready:
            if not ready:
                for handle in wait_any(list(pending)):
                    i = pending.pop(handle)
                    if i in first:
                        first.discard(i)
                        obs, info = envs[i].receive()
                    else:
                        obs, reward, term, trunc, info = envs[i]._stepped(envs[i].receive())
                        eps[i].rewards.append(reward)
                        if term or trunc:
                            eps[i].result, eps[i].wall_time = envs[i].result, time.monotonic() - start
                            if pool is not None:
                                envs[i].close()  # frees its pool's CPU for the others (a RayEnv closes without waiting)
                            continue
                    ready[i] = (obs, {**info, "episode": i, "seed": eps[i].seed, "group": eps[i].group})
                continue
            rows = sorted(ready)
            actions = list(policy([ready[i][0] for i in rows], [ready[i][1] for i in rows]))
            if len(actions) != len(rows):
                raise MLGymError(f"the policy returned {len(actions)} actions for {len(rows)} observations")
            for i, action in zip(rows, actions):
                envs[i].send_step(action)
                pending[envs[i].waitable] = i
            ready.clear()
    except MainGuardMissing as e:
        raise SystemExit(f"error: {e}") from None
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        _close_all(envs, cancel=interrupted)
    return _group_stats(eps)


def run_agents(task: str, agent: str, n: int, *, seed: int = 0, log_dir: str | Path = "runs/rollout",
               agent_argv: Sequence[str] = (), agent_options: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
               run_info: dict[str, Any] | None = None, group_size: int = 1, pool: Any = None, **env_kwargs: Any) -> list[Episode]:
    """Run ``n`` episodes of ``agent`` (a runner ``--agent`` name) at once, each agent in a thread
    and its env in a worker.  ``agent_argv``: more runner flags for the agents (``--llm-name`` ...);
    ``agent_options``: keyword arguments for the agent class (e.g. the search agent's ``weights``),
    or one such mapping per episode; ``group_size`` and ``pool`` as in :func:`rollout`."""
    from mlgym.agents import load_agent
    from mlgym.agents.options import AgentOptions, agent_tools
    from mlgym.runs.runner import build_parser

    cls = load_agent(agent)
    parser = build_parser()
    eps = _episodes(n, seed, group_size, Path(log_dir))
    args = [parser.parse_args(["--agent", agent, "--seed", str(ep.seed), *agent_argv]) for ep in eps]
    env_kwargs.setdefault("tools", agent_tools(cls, args[0]))
    envs = _envs(task, n, Path(log_dir), env_kwargs, pool)
    errors: list[str] = []
    no_guard: list[int] = []
    per_episode = [dict(agent_options or {})] * n if agent_options is None or isinstance(agent_options, dict) else list(agent_options)
    if len(per_episode) != n:
        raise MLGymError(f"agent_options has {len(per_episode)} entries for {n} episodes")

    def one(i: int) -> None:
        env, t0 = envs[i], time.monotonic()
        try:
            info_run = {"agent": agent, "model": args[i].llm_name, **_run_info(eps[i], group_size, run_info)}
            obs, info = env.reset(seed=eps[i].seed, options={"run_info": info_run})
            bot = cls(AgentOptions.from_namespace(args[i]), **per_episode[i])
            bot.run(env, obs, info)
            if env.result is None:  # the agent stopped without ending the episode
                env.finish("agent_stopped")
            eps[i].result = env.result
            if pool is not None:
                env.close()  # frees its pool's CPU for the others (a RayEnv closes without waiting)
        except MainGuardMissing:
            no_guard.append(i)
        except Exception as e:  # noqa: BLE001 - one episode's failure is reported, the others go on
            errors.append(f"episode {i}: {type(e).__name__}: {e}")
        eps[i].wall_time = time.monotonic() - t0

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    interrupted = False
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        _close_all(envs, cancel=interrupted)
    if no_guard:
        raise SystemExit(f"error: {NO_MAIN_GUARD}")
    if errors:
        raise MLGymError("; ".join(errors))
    return _group_stats(eps)


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="mlgym rollout", description="Run N episodes of one agent at once, each env in a worker.")
    p.add_argument("--task", default="digits")
    p.add_argument("--agent", default="baseline", help="an agent that uses only the public env API (baseline, search, ...)")
    p.add_argument("-n", "--episodes", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="episode i gets seed + i")
    p.add_argument("--log-dir", type=Path, default=Path("runs/rollout"))
    p.add_argument("--work-dir", type=Path, default=Path("workspaces"))
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--sandbox", default="local")
    p.add_argument("--reward-mode", choices=("final", "dense"), default="final")
    p.add_argument("--group-size", type=int, default=1, metavar="K",
                   help="GRPO groups: episodes i with the same i // K reset from one seed (seed + i // K); group statistics")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the envs on a Ray cluster (HOST:PORT, 'auto', or 'local' for a Ray started here) instead of worker processes")
    args, rest = p.parse_known_args(argv)
    if args.episodes < 1:
        print("error: -n must be at least 1", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    pool = None
    try:
        if args.ray:
            from mlgym.runs.envpool import EnvPool

            pool = EnvPool(None if args.ray == "local" else args.ray)
        eps = run_agents(args.task, args.agent, args.episodes, seed=args.seed, log_dir=args.log_dir, agent_argv=rest,
                         work_dir=args.work_dir, max_steps=args.max_steps, sandbox=args.sandbox, reward_mode=args.reward_mode,
                         group_size=args.group_size, pool=pool)
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: the unfinished episodes in {args.log_dir} are cancelled (result.json status cancelled); "
              "continue one with python -m mlgym.runner --resume LOG_DIR", file=sys.stderr)
        return 130
    finally:
        if pool is not None:
            pool.close()
    for ep in eps:
        r = ep.result or {}
        group = f" group {ep.group} advantage {ep.advantage:+.4f}" if args.group_size > 1 and ep.advantage is not None else ""
        print(f"ep{ep.index:03d} seed {ep.seed}: reward {ep.reward:+.4f} score {r.get('score')} steps {r.get('steps')}{group} "
              f"({ep.wall_time:.1f}s) {ep.log_dir}")
    print(f"{len(eps)} episodes in {time.monotonic() - t0:.1f}s; mean reward {sum(e.reward for e in eps) / len(eps):+.4f}")
    return 0
