"""mlgym.llm.client through litellm's real HTTP path against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from llm_server import ScriptedLLM

from mlgym.core.errors import BudgetExceededError, LLMError
from mlgym.llm.client import (
    Budget,
    LLMClient,
    ResponseCache,
    count_tokens,
    split_tokens,
    truncate_tokens,
)

HI = [{"role": "user", "content": "Say hi to the test"}]


@pytest.fixture
def llm():
    with ScriptedLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def client(llm, model="openai/test-model", **kw):
    kw.setdefault("backoff", 0.01)
    return LLMClient(model, base_url=llm.url, api_key="sk-test", **kw)


def test_reply_usage_and_auth_header(llm):
    llm.script("openai/test-model", "hello there")
    r = client(llm).complete(HI)
    assert r.content == "hello there" and not r.cached and r.usage_source == "provider"
    assert (r.prompt_tokens, r.completion_tokens) == (10, 2)  # the server's own counts, not tiktoken's
    req = llm.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["headers"]["authorization"] == "Bearer sk-test"
    assert req["body"]["model"] == "test-model" and req["body"]["messages"] == HI


def test_tool_calls_and_tiktoken_when_no_usage(llm):
    llm.script("openai/test-model", {"tool_calls": [{"name": "list_files", "arguments": {"dir_path": "."}}], "usage": None})
    tools = [{"type": "function", "function": {"name": "list_files", "description": "d",
                                               "parameters": {"type": "object", "properties": {"dir_path": {"type": "string"}}}}}]
    r = client(llm).complete(HI, tools=tools)
    assert r.tool_calls[0]["name"] == "list_files" and json.loads(r.tool_calls[0]["arguments"]) == {"dir_path": "."}
    assert r.usage_source == "tiktoken" and r.prompt_tokens > 0 and r.completion_tokens > 0
    assert llm.requests[0]["body"]["tools"] == tools


def test_rate_limit_then_success_is_retried(llm):
    llm.script("openai/test-model", {"status": 429}, {"status": 500}, {"status": 503}, "finally")
    slept: list[float] = []
    r = client(llm, backoff=1.0, sleep=slept.append).complete(HI)
    assert r.content == "finally" and len(llm.requests) == 4
    assert slept[0] == 0.0  # the 429 said Retry-After: 0
    assert 1.6 <= slept[1] <= 2.4 and 3.2 <= slept[2] <= 4.8  # backoff * 2**attempt, with jitter


def test_user_errors_are_not_retried(llm):
    llm.script("openai/test-model", {"status": 400, "message": "bad request body"}, "never")
    with pytest.raises(LLMError, match="bad request body"):
        client(llm).complete(HI)
    assert len(llm.requests) == 1


def test_retries_give_up(llm):
    llm.script("openai/test-model", *[{"status": 500}] * 3)
    with pytest.raises(LLMError, match="after 2 retries"):
        client(llm, retries=2).complete(HI)
    assert len(llm.requests) == 3


@pytest.mark.slow
def test_cost_from_litellm_price_table(llm):
    llm.script("openai/gpt-4o-mini", {"content": "x", "usage": {"prompt_tokens": 1000, "completion_tokens": 500}})
    llm.script("openai/test-model", "y")
    records: list[dict] = []
    r = client(llm, "openai/gpt-4o-mini", on_call=records.append).complete(HI)
    assert r.cost == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)
    unknown = client(llm, on_call=records.append).complete(HI)
    assert unknown.cost == 0.0
    assert records[0]["priced"] is True and records[1]["priced"] is False


def test_trace_record_fields_and_small_trace(llm):
    llm.script("openai/test-model", "a", "b")
    records: list[dict] = []
    client(llm, on_call=records.append).complete(HI, purpose="unit")
    client(llm, on_call=records.append, small_trace=True).complete(HI)
    full, small = records
    for key in ("type", "model", "completion", "prompt_tokens", "completion_tokens", "cost", "latency", "cached"):
        assert key in full and key in small
    assert full["type"] == "llm" and full["prompt"] == HI and full["purpose"] == "unit" and full["completion"] == "a"
    assert "prompt" not in small and len(small["prompt_sha256"]) == 64


def test_budget_refuses_the_call_that_would_pass_it(llm):
    llm.default("openai/test-model", "ok")
    budget = Budget(max_tokens=40)
    c = client(llm, budget=budget)
    c.complete(HI)  # ~10 + 1 tokens
    c.complete(HI)
    with pytest.raises(BudgetExceededError, match="token budget spent"):
        for _ in range(5):
            c.complete(HI)
    assert budget.tokens <= 40 and len(llm.requests) == budget.calls


def test_cost_budget(llm):
    llm.default("openai/gpt-4o-mini", {"content": "x", "usage": {"prompt_tokens": 100_000, "completion_tokens": 0}})
    c = client(llm, "openai/gpt-4o-mini", budget=Budget(max_cost=0.02))
    c.complete(HI)  # $0.015
    with pytest.raises(BudgetExceededError, match="cost budget"):
        c.complete(HI)  # still allowed: $0.015 spent + this prompt < $0.02; it spends another $0.015
        c.complete(HI)


def test_cache_replays_with_the_server_down(tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    with ScriptedLLM() as llm:
        llm.script("openai/test-model", "first", "second")
        c = client(llm, cache=cache)
        a = c.complete(HI)
        b = c.complete(HI)  # same request: from the cache
        other = c.complete(HI + [{"role": "user", "content": "more"}])
        url = llm.url
    assert (a.content, b.content, other.content) == ("first", "first", "second") and b.cached and not a.cached
    assert len(llm.requests) == 2
    replay = LLMClient("openai/test-model", base_url=url, cache=cache, retries=0)
    r = replay.complete(HI)
    assert r.cached and r.content == "first" and r.prompt_tokens == a.prompt_tokens
    with pytest.raises(LLMError):  # not in the cache: the dead server is really asked
        replay.complete([{"role": "user", "content": "new"}])


def test_missing_api_key_is_one_line(llm):
    with pytest.raises(LLMError) as e:
        LLMClient("openai/gpt-4o-mini")
    assert "OPENAI_API_KEY" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(LLMError, match="ANTHROPIC_API_KEY"):
        LLMClient("anthropic/claude-3-5-haiku-20241022")
    LLMClient("openai/gpt-4o-mini", base_url=llm.url)  # an OpenAI-compatible server: no key needed
    LLMClient("ollama/llama3")  # local provider: nothing to check


@pytest.mark.slow
def test_token_counting_works_offline_without_importing_litellm(tmp_path):
    code = (
        "import sys, mlgym.llm.client as m, mlgym.env.core, mlgym.runs.runner, mlgym.env.tools.llm_tools\n"
        "n = m.count_tokens('hello world'); e = m.encoding('openai/gpt-4o-mini')\n"
        "print(n, e.name, m.encoding('anthropic/claude-3').name, 'litellm' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "o200k_base", "cl100k_base", "False"]
    assert "estimating" not in out.stderr


def test_split_and_truncate_by_tokens():
    text = "".join(f"line {i} with some words in it\n" for i in range(400))
    chunks = split_tokens(text, 500)
    assert "".join(chunks) == text and len(chunks) > 1
    assert all(count_tokens(c) <= 500 for c in chunks)
    long_line = "word " * 3000
    assert all(count_tokens(c) <= 500 for c in split_tokens(long_line, 500))
    cut = truncate_tokens(text, 200)
    assert count_tokens(cut) <= 220 and "tokens cut" in cut and cut.startswith("line 0") and cut.rstrip().endswith("in it")
    assert truncate_tokens("short", 200) == "short"
