"""Environments on a Ray cluster: actors holding mlgym envs on CPU nodes, driven from elsewhere.

    from mlgym.runs.envpool import EnvPool
    with EnvPool("HOST:PORT", resources={"mlgym_env": 1}) as pool:   # address None: a local Ray
        env = pool.make(task="digits", log_dir="/shared/runs/ep0")      # a RayEnv: reset/step/close
        obs, info = env.reset(seed=0)
        eps = rollout("digits", policy, n=8, pool=pool)                 # mlgym.rollout on the cluster

Each env is one Ray actor (``num_cpus`` per env, plus custom ``resources`` that only the sandbox
nodes advertise, so trainers on GPU nodes never host one) holding one
:class:`~mlgym.env.core.MLGymEnv`; the caller's :class:`RayEnv` has the surface of
:class:`mlgym.runs.rollout.RemoteEnv` (``reset``/``step``, ``send_step``/``receive`` to overlap
many envs, ``finish`` and the other public env methods), so :func:`mlgym.rollout.rollout`,
:func:`~mlgym.rollout.run_agents`, ``mlgym serve --ray`` and the integrations
(:mod:`mlgym.integrations`) take either.  Closing a RayEnv ends its actor and frees its CPU, so a
pool never holds more envs than the episodes in flight.  Log and work folders are made absolute
here: they must be on storage every node sees (on one machine, any folder).  Ray is imported
lazily (the ``ray`` / ``rl`` extras).  Each env appends its node's id to ``<log_dir>/ray_nodes.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym

from mlgym.core.errors import MLGymError
from mlgym.runs.envproxy import PUBLIC_METHODS, _PublicMethods

__all__ = ["EnvPool", "RayEnv"]


class _EnvActor:
    """The actor body (wrapped by ``ray.remote`` in :meth:`EnvPool._actor_class`): one MLGymEnv."""

    def __init__(self, env_kwargs: dict[str, Any]) -> None:
        from mlgym.env.core import MLGymEnv

        self.env = MLGymEnv(**env_kwargs)
        if env_kwargs.get("log_dir"):  # where it ran, as mlgym bench --ray records it
            log_dir = Path(env_kwargs["log_dir"])
            log_dir.mkdir(parents=True, exist_ok=True)
            with open(log_dir / "ray_nodes.txt", "a") as f:
                f.write(self.node() + "\n")

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def call(self, name: str, args: tuple[Any, ...]) -> tuple[Any, dict[str, Any] | None]:
        if name not in PUBLIC_METHODS:
            raise MLGymError(f"{name!r} is not a public env method; one of: {', '.join(PUBLIC_METHODS)}")
        return getattr(self.env, name)(*args), self.env.result

    def close(self) -> None:
        self.env.close()


class RayEnv(_PublicMethods, gym.Env[str, Any]):
    """An :class:`~mlgym.env.core.MLGymEnv` in a Ray actor, behind reset/step/close (see the module doc)."""

    def __init__(self, actor: Any, env_kwargs: dict[str, Any]) -> None:
        self.actor = actor
        self.env_kwargs = env_kwargs
        self.result: dict[str, Any] | None = None
        self._pending: Any = None
        self._closed = False
        self.closing: list[Any] = []

    @staticmethod
    def wait(handles: Sequence[Any]) -> list[Any]:
        """The handles (:attr:`waitable`) whose reset/step has answered: at least one, blocking."""
        import ray

        ready, _ = ray.wait(list(handles), num_returns=1)
        more, _ = ray.wait(list(handles), num_returns=len(handles), timeout=0)
        return list(dict.fromkeys([*ready, *more]))

    @property
    def waitable(self) -> Any:
        """What :meth:`wait` waits on for this env's call in flight (an ObjectRef)."""
        return self._pending

    def _get(self, ref: Any) -> Any:
        import ray

        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as e:
            raise MLGymError(f"the env actor died: {e}") from None
        except ray.exceptions.RayTaskError as e:
            cause = e.as_instanceof_cause()  # type: ignore[no-untyped-call]
            raise MLGymError(str(cause) if isinstance(cause, MLGymError) else f"{type(cause).__name__}: {cause}") from None

    def send_reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self._pending = self.actor.reset.remote(seed, options)

    def send_step(self, action: Any) -> None:
        self._pending = self.actor.step.remote(action)

    def receive(self) -> Any:
        ref, self._pending = self._pending, None
        if ref is None:
            raise MLGymError("nothing in flight on this env")
        return self._get(ref)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        self.send_reset(seed=seed, options=options)
        obs, info = self.receive()
        self.result = None
        return str(obs), dict(info)

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        self.send_step(action)
        return self._stepped(self.receive())

    def _remote(self, name: str, *args: Any) -> Any:
        out, result = self._get(self.actor.call.remote(name, args))
        if result is not None:
            self.result = result
        return out

    def finish(self, reason: str) -> float:
        return float(self._remote("finish", reason))

    def node(self) -> str:
        """The id of the Ray node this env lives on."""
        return str(self._get(self.actor.node.remote()))

    def close(self) -> None:
        """Closes the env (its sandbox, its log) and then ends the actor, without waiting (the
        actor runs the two in order; :meth:`EnvPool.close` waits for them); twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self.closing = [self.actor.close.remote(), self.actor.__ray_terminate__.remote()]


class EnvPool:
    """Hands out :class:`RayEnv` s on a Ray cluster (see the module doc).

    ``address``: a running cluster (``HOST:PORT``, ``"auto"``) or None for a Ray started in this
    process (``local_cpus`` CPUs); when Ray is already initialised here it is used as is.
    ``num_cpus``: CPUs each env reserves; ``resources``: custom resources each env needs (e.g.
    ``{"mlgym_env": 1}`` advertised only by the CPU nodes meant for sandboxes)."""

    def __init__(self, address: str | None = None, *, num_cpus: float = 1.0, resources: dict[str, float] | None = None,
                 local_cpus: int | None = None) -> None:
        import ray

        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                kwargs["num_cpus"] = local_cpus
            ray.init(address=address, **kwargs)
            self._owns_ray = True
        else:
            self._owns_ray = False
        self.options: dict[str, Any] = {"num_cpus": num_cpus, "max_restarts": 0}
        if resources:
            self.options["resources"] = dict(resources)
        self._actor = ray.remote(_EnvActor).options(**self.options)
        self.envs: list[RayEnv] = []

    def make(self, **env_kwargs: Any) -> RayEnv:
        """A new env (``MLGymEnv(**env_kwargs)``) in its own actor; its folders made absolute."""
        for key in ("log_dir", "work_dir"):
            if env_kwargs.get(key) is not None:
                env_kwargs[key] = str(Path(env_kwargs[key]).resolve())
        env = RayEnv(self._actor.remote(env_kwargs), env_kwargs)
        self.envs = [e for e in self.envs if not e._closed or e.closing] + [env]
        return env

    def nodes(self) -> list[str]:
        """The ids of the alive Ray nodes that can host an env."""
        import ray

        need = {"CPU": self.options["num_cpus"], **self.options.get("resources", {})}
        return [str(n["NodeID"]) for n in ray.nodes()  # type: ignore[no-untyped-call]
                if n.get("Alive") and all(n.get("Resources", {}).get(k, 0) >= v for k, v in need.items())]

    def close(self) -> None:
        """Closes every env handed out, waiting for them (and the local Ray this pool started)."""
        import ray

        for env in self.envs:
            env.close()
        closing = [ref for env in self.envs for ref in env.closing[:1]]
        self.envs.clear()
        try:
            ray.get(closing, timeout=120)
        except Exception:  # noqa: BLE001 - a dead actor or node has nothing left to close
            pass
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
