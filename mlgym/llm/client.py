"""LLM calls for agents and LLM-backed tools, on litellm (imported lazily: it costs ~3 s).

    budget = Budget(max_cost=2.0)
    llm = LLMClient("openai/gpt-4o-mini", budget=budget, cache=ResponseCache("llm-cache"),
                    on_call=records.append)
    reply = llm.complete([{"role": "user", "content": "Say hi"}])
    reply.content, reply.prompt_tokens, reply.cost

* Any litellm provider by model name (``openai/...``, ``anthropic/...``, ``ollama/...``),
  or any OpenAI-compatible server with ``base_url``.
* A missing API key is an :class:`LLMError` naming the variable, before any call.
* Rate limits (429), server errors (5xx), timeouts and connection errors are retried
  with exponential backoff (or the server's ``Retry-After``); other 4xx errors are not.
* Token counts are the provider's ``usage`` when it reports one, else tiktoken's, which
  works offline from the encodings shipped inside litellm's wheel.
* Cost comes from litellm's local price table; a model it does not know costs 0 (logged).
* :class:`Budget` refuses a call once the run's spend plus the prompt would pass
  ``max_cost`` / ``max_tokens`` (:class:`BudgetExceededError`).
* :class:`ResponseCache` stores each reply under the SHA-256 of the full request, so a
  run replays bit for bit with the provider down.  Replayed calls are counted at their
  original tokens and cost (a replay stops where the original stopped).
* ``on_call`` gets one ``{"type": "llm", ...}`` trace record per call.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlgym.core.errors import BudgetExceededError, LLMError, LLMUnavailable
from mlgym.runlog.records import LLMRecord

__all__ = [
    "Budget", "LLMClient", "LLMReply", "ResponseCache", "count_message_tokens", "count_tokens",
    "encoding", "price_per_token", "split_tokens", "truncate_tokens",
]

log = logging.getLogger("mlgym.llm.client")
Messages = Sequence[dict[str, Any]]
KEY_WORDS = ("KEY", "TOKEN", "SECRET", "ACCESS")  # litellm also lists *_API_BASE etc. as "missing"


# ------------------------------------------------------------------ tokens
def tokenizer_dir() -> Path | None:
    """litellm's wheel ships tiktoken's cl100k/o200k/p50k files under their cache names."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None


@functools.lru_cache(maxsize=8)
def _encoding_by_name(name: str) -> Any:
    import tiktoken

    if "TIKTOKEN_CACHE_DIR" not in os.environ and (d := tokenizer_dir()) is not None:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(d)
    try:
        return tiktoken.get_encoding(name)
    except Exception as e:  # offline and not in the cache: count characters / 4
        log.warning("tiktoken encoding %s unavailable (%s); estimating tokens as characters/4", name, e)
        return None


def encoding(model: str | None = None) -> Any:
    """The tiktoken encoding for ``model`` (o200k for gpt-4o-style names, else cl100k), or None."""
    name = "cl100k_base"
    if model:
        import tiktoken

        try:
            name = tiktoken.encoding_name_for_model(model.rsplit("/", 1)[-1])
        except KeyError:
            pass
    return _encoding_by_name(name)


def count_tokens(text: str, model: str | None = None) -> int:
    enc = encoding(model)
    if enc is None:
        return (len(text) + 3) // 4
    return len(enc.encode(text, disallowed_special=()))


def count_message_tokens(messages: Messages, model: str | None = None, tools: Sequence[Any] | None = None) -> int:
    """Prompt tokens as OpenAI counts them: content plus ~4 per message, plus the tool schemas."""
    total = 3
    for m in messages:
        total += 4 + count_tokens(_text_of(m.get("content")), model)
        if m.get("tool_calls"):
            total += count_tokens(json.dumps(m["tool_calls"], sort_keys=True), model)
    if tools:
        total += count_tokens(json.dumps(list(tools), sort_keys=True), model)
    return total


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def split_tokens(text: str, chunk_tokens: int, model: str | None = None) -> list[str]:
    """Cut ``text`` into pieces of at most ``chunk_tokens`` tokens, at line ends where possible."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        n = count_tokens(line, model)
        if n > chunk_tokens:  # one huge line: cut it by tokens
            if current:
                chunks.append("".join(current))
                current, size = [], 0
            enc = encoding(model)
            if enc is None:
                step = chunk_tokens * 4
                chunks.extend(line[i : i + step] for i in range(0, len(line), step))
            else:
                ids = enc.encode(line, disallowed_special=())
                chunks.extend(enc.decode(ids[i : i + chunk_tokens]) for i in range(0, len(ids), chunk_tokens))
            continue
        if size + n > chunk_tokens and current:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += n
    if current or not chunks:
        chunks.append("".join(current))
    return chunks


def truncate_tokens(text: str, max_tokens: int, model: str | None = None, note: str = "tokens cut") -> str:
    """Keep the head and tail of ``text`` within ``max_tokens``, saying how much was cut."""
    enc = encoding(model)
    if enc is None:
        limit = max_tokens * 4
        if len(text) <= limit:
            return text
        half = limit // 2
        return f"{text[:half]}\n[... {(len(text) - limit) // 4} {note} ...]\n{text[-half:]}"
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= max_tokens:
        return text
    keep = max(max_tokens - 16, 2)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    return f"{enc.decode(ids[:head])}\n[... {len(ids) - head - tail} {note} ...]\n{enc.decode(ids[-tail:])}"


# ------------------------------------------------------------------ litellm
def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@functools.lru_cache(maxsize=64)
def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token from litellm's local table, or None if it does not know the model."""
    litellm = _litellm()
    try:
        inp, out = litellm.cost_per_token(model=model, prompt_tokens=1_000_000, completion_tokens=1_000_000)
    except Exception:
        log.warning("no price for model %s in litellm's table: its calls are counted as costing $0", model)
        return None
    return inp / 1_000_000, out / 1_000_000


def missing_key(model: str) -> list[str]:
    """Environment variables ``model``'s provider needs and that are not set (litellm's check)."""
    try:
        info = _litellm().validate_environment(model=model)
    except Exception:
        return []
    return [k for k in info.get("missing_keys", []) if any(w in k for w in KEY_WORDS)]


_SKIP_MCP = False


def _skip_mcp(value: bool) -> None:
    global _SKIP_MCP
    _SKIP_MCP = value


def _retryable(e: BaseException) -> bool:
    litellm = _litellm()
    transient = (
        litellm.RateLimitError, litellm.Timeout, litellm.APIConnectionError, litellm.InternalServerError,
        litellm.ServiceUnavailableError, litellm.BadGatewayError, ConnectionError, TimeoutError,
    )
    if isinstance(e, transient):
        return True
    status = getattr(e, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _retry_after(e: BaseException) -> float | None:
    for headers in (getattr(e, "litellm_response_headers", None), getattr(getattr(e, "response", None), "headers", None)):
        try:
            value = headers.get("retry-after") if headers is not None else None
            if value is not None:
                return max(0.0, float(value))
        except (AttributeError, TypeError, ValueError):
            continue
    return None


# ------------------------------------------------------------------ records
@dataclasses.dataclass
class Budget:
    """A run's spending limit, shared by every client of the run."""

    max_cost: float | None = None
    max_tokens: int | None = None
    cost: float = 0.0
    tokens: int = 0
    calls: int = 0
    # Spent by the same run in another process (the env's LLM tools for an agent, the agent for the
    # env's tools): counted against the limits and in the totals, never added to twice.
    outside: dict[str, float] = dataclasses.field(default_factory=dict)

    def check(self, prompt_tokens: int = 0, prompt_cost: float = 0.0) -> None:
        """Raise :class:`BudgetExceededError` if a call with this prompt would pass a limit."""
        tokens, cost, calls = self.totals()
        if self.max_tokens is not None and tokens + prompt_tokens > self.max_tokens:
            raise BudgetExceededError(
                f"token budget spent: {tokens} tokens used in {calls} calls, the next prompt has "
                f"{prompt_tokens}, the limit is {self.max_tokens} (--max-tokens)"
            )
        if self.max_cost is not None and cost + prompt_cost > self.max_cost:
            raise BudgetExceededError(
                f"cost budget spent: ${cost:.4f} used in {calls} calls, the limit is ${self.max_cost:g} (--max-cost)"
            )

    def totals(self) -> tuple[int, float, int]:
        """(tokens, cost, calls) of this process and the outside spend together."""
        o = self.outside
        return self.tokens + int(o.get("tokens", 0)), self.cost + float(o.get("cost", 0.0)), self.calls + int(o.get("calls", 0))

    def own(self) -> dict[str, Any]:
        """This process's spend (what the other side gets as its ``outside``)."""
        return {"calls": self.calls, "tokens": self.tokens, "cost": round(self.cost, 9)}

    def set_outside(self, spent: Any) -> None:
        """The other process's spend so far (a mapping as :meth:`own` makes; anything else is ignored)."""
        if isinstance(spent, dict):
            try:
                self.outside = {k: float(spent.get(k) or 0) for k in ("calls", "tokens", "cost")}
            except (TypeError, ValueError):
                pass

    def add(self, tokens: int, cost: float) -> None:
        self.tokens += tokens
        self.cost += cost
        self.calls += 1


@dataclasses.dataclass(frozen=True)
class LLMReply:
    content: str
    tool_calls: list[dict[str, Any]]  # {"id", "name", "arguments": JSON text}
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency: float
    cached: bool
    model: str
    finish_reason: str | None = None
    usage_source: str = "provider"  # or "tiktoken" when the provider reported none


class ResponseCache:
    """Replies on disk under ``<dir>/<k[:2]>/<k>.json``, ``k`` = SHA-256 of the canonical request."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text())  # type: ignore[no-any-return]
        except (FileNotFoundError, ValueError):
            return None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(reply, ensure_ascii=False, sort_keys=True))
        os.replace(tmp, path)


# ------------------------------------------------------------------ client
class LLMClient:
    """One model.  See the module docstring; ``complete`` is the only call."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.0,
        max_output_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        timeout: float = 300.0,
        retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        budget: Budget | None = None,
        cache: ResponseCache | None = None,
        on_call: Callable[[dict[str, Any]], None] | None = None,
        small_trace: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not model:
            raise LLMError("no model name given; pass e.g. --llm-name openai/gpt-4o-mini")
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        self.stop = list(stop) if stop else None  # default stop sequences of every call
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.budget = budget if budget is not None else Budget()
        self.cache = cache
        self.on_call = on_call
        self.small_trace = small_trace
        self.sleep = sleep
        self._key_checked = False
        if cache is None:  # with a cache, check at the first miss: a replay needs no key
            self.check_key()

    def check_key(self) -> None:
        """Raise :class:`LLMError` naming the missing environment variable (not with a base_url)."""
        if self._key_checked or self.base_url or self.api_key:
            return
        missing = missing_key(self.model)
        if missing:
            raise LLMError(
                f"model {self.model} needs {' and '.join(missing)} in the environment "
                f"(export {missing[0]}=...), or --llm-base-url for an OpenAI-compatible server"
            )
        self._key_checked = True

    def request(self, messages: Messages, tools: Sequence[Any] | None = None, **params: Any) -> dict[str, Any]:
        """Everything that determines the reply (the cache key); not the endpoint or key."""
        req: dict[str, Any] = {"model": self.model, "messages": list(messages), "temperature": self.temperature}
        if self.max_output_tokens:
            req["max_tokens"] = self.max_output_tokens
        if self.stop:
            req["stop"] = list(self.stop)
        if tools:
            req["tools"] = list(tools)
        req.update({k: v for k, v in params.items() if v is not None})
        return req

    def complete(
        self,
        messages: Messages,
        *,
        tools: Sequence[Any] | None = None,
        tool_choice: Any = None,
        stop: Sequence[str] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        purpose: str = "agent",
    ) -> LLMReply:
        req = self.request(messages, tools, tool_choice=tool_choice, stop=list(stop) if stop else None, max_tokens=max_tokens)
        if temperature is not None:
            req["temperature"] = temperature
        key = ResponseCache.key(req)
        hit = self.cache.get(key) if self.cache is not None else None
        estimate = count_message_tokens(messages, self.model, tools)
        prices = price_per_token(self.model)
        self.budget.check(estimate, estimate * prices[0] if prices else 0.0)
        if hit is not None:
            reply = LLMReply(**{**hit, "latency": 0.0, "cached": True})
        else:
            reply = self._call(req, estimate, prices)
            if self.cache is not None:
                self.cache.put(key, {k: v for k, v in dataclasses.asdict(reply).items() if k not in ("latency", "cached")})
        self.budget.add(reply.prompt_tokens + reply.completion_tokens, reply.cost)
        self._record(req, key, reply, purpose, priced=prices is not None)
        return reply

    def _call(self, req: dict[str, Any], estimate: int, prices: tuple[float, float] | None) -> LLMReply:
        self.check_key()
        litellm = _litellm()
        kwargs = dict(req, timeout=self.timeout, max_retries=0, num_retries=0, drop_params=True)
        if self.base_url:
            kwargs["api_base"] = self.base_url
            kwargs["api_key"] = self.api_key or _env_key(self.model) or "sk-no-key-needed"
        elif self.api_key:
            kwargs["api_key"] = self.api_key
        if req.get("tools") and _SKIP_MCP:
            kwargs["_skip_mcp_handler"] = True
        attempt = 0
        while True:
            t0 = time.monotonic()
            try:
                resp = litellm.completion(**kwargs)
                break
            except ModuleNotFoundError as e:
                # litellm 1.106 imports its MCP gateway (and the optional ``mcp`` package) for any
                # request with tools; we send no MCP tools, so tell it to skip that.
                if e.name != "mcp" or "_skip_mcp_handler" in kwargs:
                    raise LLMError(f"{self.model}: litellm needs a module it cannot import: {e}") from e
                _skip_mcp(True)
                kwargs["_skip_mcp_handler"] = True
            except Exception as e:
                retryable = _retryable(e)
                self._record_failure(req, e, attempt, time.monotonic() - t0)
                if not retryable or attempt >= self.retries:
                    cls = LLMUnavailable if retryable else LLMError
                    raise cls(f"{self.model}: {_one_line(e)}" + (f" (after {attempt} retries)" if attempt else "")) from e
                delay = _retry_after(e)
                if delay is None:
                    delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.8, 1.2)
                delay = min(delay, self.max_backoff)
                attempt += 1
                log.warning("%s: %s; retry %d/%d in %.1fs", self.model, _one_line(e), attempt, self.retries, delay)
                self.sleep(delay)
        latency = time.monotonic() - t0
        choice = resp.choices[0]
        msg = choice.message
        tool_calls = [
            {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments or "{}"}
            for tc in (getattr(msg, "tool_calls", None) or [])
        ]
        content = msg.content or ""
        usage = getattr(resp, "usage", None)
        p_tok = int(getattr(usage, "prompt_tokens", 0) or 0)
        c_tok = int(getattr(usage, "completion_tokens", 0) or 0)
        source = "provider"
        if p_tok == 0 and c_tok == 0:  # the provider reported no usage
            source = "tiktoken"
            p_tok = estimate
            c_tok = count_tokens(content, self.model) + (count_tokens(json.dumps(tool_calls), self.model) if tool_calls else 0)
        cost = p_tok * prices[0] + c_tok * prices[1] if prices else 0.0
        return LLMReply(
            content=content, tool_calls=tool_calls, prompt_tokens=p_tok, completion_tokens=c_tok, cost=cost,
            latency=round(latency, 6), cached=False, model=self.model, finish_reason=choice.finish_reason, usage_source=source,
        )

    def _record_failure(self, req: dict[str, Any], e: BaseException, attempt: int, latency: float) -> None:
        """A failed attempt reaches the trace too (an ``llm`` record with ``error``): retries and an unreachable
        service are visible where the run is read, not only in the log."""
        if self.on_call is None:
            return
        rec = LLMRecord(model=self.model, purpose="failed call", completion="", prompt=None,
                        prompt_sha256=ResponseCache.key(req), latency=round(latency, 6),
                        extra={"error": f"{type(e).__name__}: {_one_line(e)}", "attempt": attempt + 1})
        try:
            self.on_call(rec.to_dict())
        except Exception:  # noqa: BLE001 - recording must not hide the call's own failure
            log.debug("could not record a failed LLM call", exc_info=True)

    def _record(self, req: dict[str, Any], key: str, reply: LLMReply, purpose: str, *, priced: bool) -> None:
        if self.on_call is None:
            return
        tools = None
        if not self.small_trace and req.get("tools"):
            tools = [t.get("function", {}).get("name", "?") if isinstance(t, dict) else str(t) for t in req["tools"]]
        rec = LLMRecord(
            model=self.model, purpose=purpose, completion=reply.content,
            prompt=None if self.small_trace else req["messages"], prompt_sha256=key if self.small_trace else None, tools=tools,
            tool_calls=reply.tool_calls or None, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
            cost=reply.cost, priced=priced, latency=reply.latency, cached=reply.cached, usage_source=reply.usage_source,
        )
        self.on_call(rec.to_dict())


def _env_key(model: str) -> str | None:
    provider = model.split("/", 1)[0].upper() if "/" in model else "OPENAI"
    return os.environ.get(f"{provider}_API_KEY")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return (text[:300] + "...") if len(text) > 300 else text or type(e).__name__


# ------------------------------------------------------------------ one run's models
@dataclasses.dataclass
class RunLLMs:
    """The models of one run (agent, LLM tools, script edits) sharing one budget and cache."""

    main: LLMClient
    fast: LLMClient
    edit: LLMClient
    budget: Budget
    pending: list[dict[str, Any]] = dataclasses.field(default_factory=list, repr=False)  # records not yet in a trace
    api_key_env: str | None = None  # the variable holding the key, named to the env's tools (never the key)

    @classmethod
    def from_args(cls, args: Any, *, needs: str = "--agent", sampling: dict[str, dict[str, Any]] | None = None) -> RunLLMs:
        """From the runner's flags (--llm-name, --fast-llm-name, ...); checks API keys now.

        ``sampling`` maps a role (``"main"``, ``"fast"``, ``"edit"``) to LLMClient settings
        (``temperature``, ``max_output_tokens``, ``stop``): a compatibility profile samples each
        role its own way even where two roles use the same model.  Roles with the same model
        and settings share one client.
        """
        name = getattr(args, "llm_name", None)
        if not name:
            raise LLMError(f"{needs} needs --llm-name, e.g. --llm-name openai/gpt-4o-mini")
        fast = getattr(args, "fast_llm_name", None) or name
        edit = getattr(args, "edit_script_llm_name", None) or fast
        budget = Budget(max_cost=getattr(args, "max_cost", None), max_tokens=getattr(args, "max_tokens", None))
        cache_dir = getattr(args, "llm_cache", None)
        common: dict[str, Any] = dict(
            base_url=getattr(args, "llm_base_url", None), budget=budget,
            cache=ResponseCache(cache_dir) if cache_dir else None, small_trace=bool(getattr(args, "small_trace", False)),
            retries=int(getattr(args, "llm_retries", 6)), backoff=float(getattr(args, "llm_backoff", 1.0)),
        )
        sampling = sampling or {}
        clients: dict[str, LLMClient] = {}
        picked: list[LLMClient] = []
        for role, model in (("main", name), ("fast", fast), ("edit", edit)):
            settings = dict(sampling.get(role, {}))
            key = json.dumps([model, settings], sort_keys=True, default=str)
            if key not in clients:
                clients[key] = LLMClient(model, **common, **settings)
            picked.append(clients[key])
        return cls(picked[0], picked[1], picked[2], budget)

    def collect(self) -> None:
        """Keep every call's trace record here (:meth:`notes` hands them to the env with the next step)."""
        self.pending.clear()
        for client in {id(c): c for c in (self.main, self.fast, self.edit)}.values():
            client.on_call = self.pending.append

    def notes(self) -> dict[str, Any]:
        """The step-action keys that give the env this run's LLM records and usage (``llm_calls``, ``run_info``)."""
        calls = list(self.pending)
        self.pending.clear()  # the same list: the clients append to it
        return {"llm_calls": calls, "run_info": self.usage()}

    def usage(self) -> dict[str, Any]:
        tokens, cost, calls = self.budget.totals()
        return {"llm_calls": calls, "llm_tokens": tokens, "llm_cost": round(cost, 6)}

    # ---------------------------------------------------------- the env's LLM tools, in the env's process
    def tool_options(self, **settings: Any) -> dict[str, Any]:
        """The reset option / action field ``llm_tools``: what the env needs to build the fast and edit
        models of its LLM-backed tools in its own process (names and settings; never an API key,
        only, where one was named, the environment variable holding it).  ``settings``: the tools'
        profile options (``profile``, ``edit_backups``, ``inspect_max_lines``)."""
        first = self.fast
        cache = first.cache.root if first.cache is not None else None
        return {
            "fast": _client_settings(self.fast), "edit": _client_settings(self.edit), "base_url": first.base_url,
            "api_key_env": self.api_key_env, "cache": str(cache) if cache is not None else None,
            "small_trace": first.small_trace, "retries": first.retries, "backoff": first.backoff, "timeout": first.timeout,
            "max_cost": self.budget.max_cost, "max_tokens": self.budget.max_tokens, **settings,
        }

    @classmethod
    def for_tools(cls, options: dict[str, Any], on_call: Callable[[dict[str, Any]], None]) -> RunLLMs:
        """The tools' models from :meth:`tool_options` (``main`` is the fast model); raises :class:`LLMError`."""
        if not isinstance(options, dict) or not isinstance(options.get("fast"), dict):
            raise LLMError('llm_tools needs a "fast" model: {"fast": {"model": ...}, "edit": {...}, ...}')
        key_env = options.get("api_key_env")
        api_key = os.environ.get(str(key_env)) if key_env else None
        if key_env and not api_key:
            raise LLMError(f"the env's LLM tools need {key_env} in the environment of the env's process")
        budget = Budget(max_cost=options.get("max_cost"), max_tokens=options.get("max_tokens"))
        common: dict[str, Any] = dict(
            base_url=options.get("base_url"), api_key=api_key, budget=budget, on_call=on_call,
            cache=ResponseCache(options["cache"]) if options.get("cache") else None, small_trace=bool(options.get("small_trace")),
            retries=int(options.get("retries", 6)), backoff=float(options.get("backoff", 1.0)), timeout=float(options.get("timeout", 300.0)),
        )
        clients: dict[str, LLMClient] = {}
        picked: list[LLMClient] = []
        for role in ("fast", "edit"):
            spec = options.get(role) or options["fast"]
            if not isinstance(spec, dict) or not spec.get("model"):
                raise LLMError(f"llm_tools: the {role} model needs a name")
            settings = {k: spec[k] for k in ("temperature", "max_output_tokens", "stop") if spec.get(k) is not None}
            key = json.dumps([spec["model"], settings], sort_keys=True, default=str)
            if key not in clients:
                clients[key] = LLMClient(str(spec["model"]), **common, **settings)
            picked.append(clients[key])
        return cls(picked[0], picked[0], picked[1], budget)


def _client_settings(client: LLMClient) -> dict[str, Any]:
    return {"model": client.model, "temperature": client.temperature, "max_output_tokens": client.max_output_tokens, "stop": client.stop}
