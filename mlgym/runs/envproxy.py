"""The public env methods besides reset/step/close, on a proxy of an env that lives elsewhere.

:class:`mlgym.runs.rollout.RemoteEnv` (a worker process), :class:`~mlgym.runs.rollout.VectorSlot`
(a gymnasium vector env) and :class:`mlgym.runs.envpool.RayEnv` (a Ray actor) share them: each
proxy only says how to call a method remotely (``_remote``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PUBLIC_METHODS"]

# MLGymEnv's public methods besides reset/step/close, proxied by RemoteEnv and VectorSlot
PUBLIC_METHODS = ("record_llm_calls", "set_run_info", "report_llm_usage", "configure_llm_tools", "aside", "end_episode", "finish")


class _PublicMethods:
    """The env's public methods on a proxy: each is ``self._remote(name, *args)``."""

    result: dict[str, Any] | None

    def _remote(self, name: str, *args: Any) -> Any:
        raise NotImplementedError

    def _stepped(self, out: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """A step's answer as returned by ``step``; keeps the episode's ``result`` when it ends."""
        obs, reward, terminated, truncated, info = out
        if info.get("result") is not None:
            self.result = info["result"]
        return str(obs), float(reward), bool(terminated), bool(truncated), dict(info)

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
