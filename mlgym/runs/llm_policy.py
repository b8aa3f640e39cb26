"""A batched LLM policy for :func:`mlgym.runs.rollout.rollout`: one chat per episode, a batch's requests at once.

    from mlgym.runs.llm_policy import LLMPolicy
    policy = LLMPolicy("openai/gpt-4o-mini", cache="llm-cache")
    rollout("digits", policy, n=8, seed=0, log_dir="runs/r")

Each episode's conversation is a system message (naming the episode's seed, so that two
episodes never share a cached reply), the first observation as the user message, then the
model's replies and the observations.  A reply is parsed into a tool call (``Action:`` /
``Action Input:``) and sent with the trace records of the calls since the last one sent
(``llm_calls``); a reply that names no tool is sent as it is (the env answers with an
error observation) and its record goes with the episode's next tool call.  The requests of one batch go out concurrently, each episode with
its own client; with ``cache`` (a :class:`mlgym.llm.client.ResponseCache` folder) a second run of
the same seeds replays the same replies, hence the same trajectories, without the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlgym.env.actions import parse_action
from mlgym.core.errors import ActionError
from mlgym.llm.client import LLMClient, ResponseCache

__all__ = ["LLMPolicy", "SYSTEM"]

SYSTEM = ("You are a machine learning engineer working in a sandboxed folder. Answer every observation with one "
          "action in the format the task describes. Episode seed: {seed}.")


class LLMPolicy:
    def __init__(self, model: str, *, cache: str | Path | None = None, max_workers: int = 16, **client_kwargs: Any) -> None:
        self.model = model
        self.cache = ResponseCache(cache) if cache is not None else None
        self.client_kwargs = client_kwargs
        self.max_workers = max_workers
        self.chats: dict[int, list[dict[str, Any]]] = {}
        self.clients: dict[int, LLMClient] = {}
        self.pending: dict[int, list[dict[str, Any]]] = {}  # trace records not sent yet, per episode

    def _client(self, episode: int) -> LLMClient:
        if episode not in self.clients:
            self.clients[episode] = LLMClient(self.model, cache=self.cache, **self.client_kwargs)
        return self.clients[episode]

    def _act(self, episode: int, seed: int, step: int, obs: str) -> Any:
        if step == 0:
            self.chats[episode] = [{"role": "system", "content": SYSTEM.format(seed=seed)}]
            self.pending[episode] = []
        chat, records = self.chats[episode], self.pending[episode]
        chat.append({"role": "user", "content": obs})
        client = self._client(episode)
        client.on_call = records.append
        reply = client.complete(chat, purpose="llm policy")
        chat.append({"role": "assistant", "content": reply.content})
        try:
            call = parse_action(reply.content)
        except ActionError:
            return reply.content
        self.pending[episode] = []
        return {"name": call.name, "arguments": call.arguments, "llm_calls": records}

    def __call__(self, observations: list[str], infos: list[dict[str, Any]]) -> Sequence[Any]:
        rows = [(int(i["episode"]), int(i["seed"]), int(i["step"]), o) for o, i in zip(observations, infos)]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(rows))) as pool:
            return list(pool.map(lambda r: self._act(*r), rows))
