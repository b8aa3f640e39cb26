"""Many episodes at once: each env in its own worker process, driven by a batched policy or by agents.

    from mlgym.rollout import rollout, run_agents
    eps = rollout("digits", policy, n=8, seed=0, log_dir="runs/r")      # policy(observations, infos) -> actions
    eps = run_agents("digits", "search", n=8, seed=0, log_dir="runs/r")  # any agent using only the public API

    mlgym rollout --task digits --agent search -n 8 --seed 0 --log-dir runs/r [--max-steps 7]

Episode ``i`` runs in ``LOG_DIR/ep<i>`` with seed ``seed + i`` (its env's reset seed, and the
agent's ``--seed``).  Nothing waits in lockstep: :func:`rollout` calls the policy on the
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

__all__ = ["Episode", "RemoteEnv", "VectorSlot", "main", "rollout", "run_agents"]

Policy = Callable[[list[str], list[dict[str, Any]]], Sequence[Any]]
# MLGymEnv's public methods besides reset/step/close, proxied by RemoteEnv and VectorSlot
PUBLIC_METHODS = ("record_llm_calls", "set_run_info", "report_llm_usage", "configure_llm_tools", "aside", "end_episode", "finish")


class _PublicMethods:
    """The env's public methods on a proxy: each is ``self._remote(name, *args)``."""

    result: dict[str, Any] | None

    def _remote(self, name: str, *args: Any) -> Any:
        raise NotImplementedError

    def record_llm_calls(self, records: Any) -> None:
        self._remote("record_llm_calls", records)

    def set_run_info(self, info: Any) -> None:
        self._remote("set_run_info", info)

    def report_llm_usage(self, usage: Any) -> None:
        self._remote("report_llm_usage", usage)

    def configure_llm_tools(self, options: Any) -> str | None:
        return self._remote("configure_llm_tools", options)  # type: ignore[no-any-return]

    def aside(self, name: str, arguments: Any = None) -> tuple[str, dict[str, Any]]:
        obs, info = self._remote("aside", name, arguments)
        return str(obs), dict(info)

    def end_episode(self, reason: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self._remote("end_episode", reason)
        if info.get("result") is not None:
            self.result = info["result"]
        return str(obs), float(reward), bool(terminated), bool(truncated), dict(info)


def _serve(conn: Connection, env_kwargs: dict[str, Any]) -> None:
    """The worker: one MLGymEnv, commands from the pipe (reset, step, finish, close)."""
    from mlgym.env.core import MLGymEnv

    env = MLGymEnv(**env_kwargs)
    try:
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
    finally:
        env.close()


class RemoteEnv(_PublicMethods, gym.Env[str, Any]):
    """An :class:`~mlgym.env.core.MLGymEnv` in a worker process, behind the same reset/step/close."""

    def __init__(self, **env_kwargs: Any) -> None:
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
        except EOFError:
            raise MLGymError(f"the env worker (pid {self._proc.pid}) died") from None
        if status != "ok":
            raise MLGymError(str(out))
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        obs, info = self._call("reset", {"seed": seed, "options": options})
        return str(obs), dict(info)

    def send_step(self, action: Any) -> None:
        self._conn.send(("step", action))

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.send_step(action)
        return self._stepped(self.receive())

    def _stepped(self, out: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = out
        if info.get("result") is not None:
            self.result = info["result"]
        return str(obs), float(reward), bool(terminated), bool(truncated), dict(info)

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

    @property
    def reward(self) -> float:
        return float((self.result or {}).get("reward") or 0.0)


def _envs(task: str, n: int, log_dir: Path, env_kwargs: dict[str, Any]) -> list[RemoteEnv]:
    from mlgym.runs import baseline

    if baseline.missing(task):  # measured once here, not by every worker at the same time
        baseline.measure(task, sandbox=env_kwargs.get("sandbox", "local"), python=env_kwargs.get("python"))
    work = env_kwargs.pop("work_dir", None) or Path("workspaces")
    return [RemoteEnv(task=task, log_dir=log_dir / f"ep{i:03d}", work_dir=work, **env_kwargs) for i in range(n)]


def rollout(task: str, policy: Policy, n: int, *, seed: int = 0, log_dir: str | Path = "runs/rollout",
            run_info: dict[str, Any] | None = None, **env_kwargs: Any) -> list[Episode]:
    """Run ``n`` episodes at once; ``policy(observations, infos)`` gets the ready rows (each info has
    ``episode`` and ``seed``) and returns one action per row."""
    envs = _envs(task, n, Path(log_dir), env_kwargs)
    eps = [Episode(i, seed + i, Path(log_dir) / f"ep{i:03d}") for i in range(n)]
    try:
        start = time.monotonic()
        for i, env in enumerate(envs):
            env.connection.send(("reset", {"seed": seed + i, "options": {"run_info": {"seed": seed + i, **(run_info or {})}}}))
        ready: dict[int, tuple[str, dict[str, Any]]] = {}
        pending = {env.connection: i for i, env in enumerate(envs)}
        first = set(range(n))
        while pending or ready:
            if not ready:
                for conn in wait(list(pending)):
                    i = pending.pop(conn)  # type: ignore[call-overload]
                    if i in first:
                        first.discard(i)
                        obs, info = envs[i].receive()
                    else:
                        obs, reward, term, trunc, info = envs[i]._stepped(envs[i].receive())
                        eps[i].rewards.append(reward)
                        if term or trunc:
                            eps[i].result, eps[i].wall_time = envs[i].result, time.monotonic() - start
                            continue
                    ready[i] = (obs, {**info, "episode": i, "seed": seed + i})
                continue
            rows = sorted(ready)
            actions = list(policy([ready[i][0] for i in rows], [ready[i][1] for i in rows]))
            if len(actions) != len(rows):
                raise MLGymError(f"the policy returned {len(actions)} actions for {len(rows)} observations")
            for i, action in zip(rows, actions):
                envs[i].send_step(action)
                pending[envs[i].connection] = i
            ready.clear()
    finally:
        for env in envs:
            env.close()
    return eps


def run_agents(task: str, agent: str, n: int, *, seed: int = 0, log_dir: str | Path = "runs/rollout",
               agent_argv: Sequence[str] = (), agent_options: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
               run_info: dict[str, Any] | None = None, **env_kwargs: Any) -> list[Episode]:
    """Run ``n`` episodes of ``agent`` (a runner ``--agent`` name) at once, each agent in a thread
    and its env in a worker.  ``agent_argv``: more runner flags for the agents (``--llm-name`` ...);
    ``agent_options``: keyword arguments for the agent class (e.g. the search agent's ``weights``),
    or one such mapping per episode."""
    from mlgym.agents import load_agent
    from mlgym.agents.options import AgentOptions, agent_tools
    from mlgym.runs.runner import build_parser

    cls = load_agent(agent)
    parser = build_parser()
    args = [parser.parse_args(["--agent", agent, "--seed", str(seed + i), *agent_argv]) for i in range(n)]
    env_kwargs.setdefault("tools", agent_tools(cls, args[0]))
    envs = _envs(task, n, Path(log_dir), env_kwargs)
    eps = [Episode(i, seed + i, Path(log_dir) / f"ep{i:03d}") for i in range(n)]
    errors: list[str] = []
    per_episode = [dict(agent_options or {})] * n if agent_options is None or isinstance(agent_options, dict) else list(agent_options)
    if len(per_episode) != n:
        raise MLGymError(f"agent_options has {len(per_episode)} entries for {n} episodes")

    def one(i: int) -> None:
        env, t0 = envs[i], time.monotonic()
        try:
            info_run = {"agent": agent, "model": args[i].llm_name, "seed": seed + i, **(run_info or {})}
            obs, info = env.reset(seed=seed + i, options={"run_info": info_run})
            bot = cls(AgentOptions.from_namespace(args[i]), **per_episode[i])
            bot.run(env, obs, info)
            if env.result is None:  # the agent stopped without ending the episode
                env.finish("agent_stopped")
            eps[i].result = env.result
        except Exception as e:  # noqa: BLE001 - one episode's failure is reported, the others go on
            errors.append(f"episode {i}: {type(e).__name__}: {e}")
        eps[i].wall_time = time.monotonic() - t0

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for env in envs:
            env.close()
    if errors:
        raise MLGymError("; ".join(errors))
    return eps


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
    args, rest = p.parse_known_args(argv)
    if args.episodes < 1:
        print("error: -n must be at least 1", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        eps = run_agents(args.task, args.agent, args.episodes, seed=args.seed, log_dir=args.log_dir, agent_argv=rest,
                         work_dir=args.work_dir, max_steps=args.max_steps, sandbox=args.sandbox, reward_mode=args.reward_mode)
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for ep in eps:
        r = ep.result or {}
        print(f"ep{ep.index:03d} seed {ep.seed}: reward {ep.reward:+.4f} score {r.get('score')} steps {r.get('steps')} "
              f"({ep.wall_time:.1f}s) {ep.log_dir}")
    print(f"{len(eps)} episodes in {time.monotonic() - t0:.1f}s; mean reward {sum(e.reward for e in eps) / len(eps):+.4f}")
    return 0
