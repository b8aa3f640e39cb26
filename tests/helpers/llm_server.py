"""A scripted OpenAI-compatible chat-completions server on loopback, for tests and benches.

    with ScriptedLLM() as llm:                      # random free port on 127.0.0.1 (ScriptedLLM(port=P): that one)
        llm.script("openai/test-model", "Action: List Files\\nAction Input: {}", {"status": 429}, ...)
        llm.default("fast-model", "[Reasoning]: ok")   # answer for any request once a script is used up
        client = LLMClient("openai/test-model", base_url=llm.url, api_key="sk-test")

Responses, per model name (the provider prefix is stripped: litellm sends ``test-model``):

* ``"text"`` - an assistant message;
* ``{"tool_calls": [{"name": ..., "arguments": {...}}], "content": None}`` - native tool calls;
* ``{"status": 429}`` (or 500, 400, ...) - that HTTP error for this one turn;
* ``{"content": "...", "usage": None}`` - no ``usage`` in the reply; ``"usage": {...}`` to set it;
* a callable ``request_body -> one of the above``.

Every request (path, headers, JSON body) is appended to ``llm.requests``; header names are
lower-cased, since HTTP header names are case-insensitive and clients spell them differently.
A request for a model with nothing scripted and no default gets HTTP 500 with a message naming
the model.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Response = Any


def _words(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in body.get("messages", [])) + 5


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # /v1/models, for clients that probe
        self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.server.owner.models()]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.split("?")[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, {"error": {"message": f"no route {path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        status, payload = self.server.owner.answer(path, {k.lower(): v for k, v in self.headers.items()}, body)
        self._send(status, payload)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedLLM


class ScriptedLLM:
    """See the module docstring."""

    def __init__(self, port: int = 0) -> None:
        self._bind = port  # 0: a free port
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, deque[Response]] = defaultdict(deque)
        self._defaults: dict[str, Response] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------ scripting
    @staticmethod
    def _key(model: str) -> str:
        return model.split("/", 1)[1] if "/" in model else model

    def script(self, model: str, *responses: Response) -> ScriptedLLM:
        with self._lock:
            self._scripts[self._key(model)].extend(responses)
        return self

    def default(self, model: str, response: Response) -> ScriptedLLM:
        with self._lock:
            self._defaults[self._key(model)] = response
        return self

    def pending(self, model: str) -> int:
        return len(self._scripts[self._key(model)])

    def models(self) -> list[str]:
        return sorted(set(self._scripts) | set(self._defaults))

    def calls(self, model: str) -> list[dict[str, Any]]:
        key = self._key(model)
        return [r["body"] for r in self.requests if self._key(str(r["body"].get("model"))) == key]

    # ------------------------------------------------------------ serving
    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        model = self._key(str(body.get("model", "")))
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body, "time": time.time()})
            queue = self._scripts.get(model)
            if queue:
                resp = queue.popleft()
            elif model in self._defaults:
                resp = self._defaults[model]
            else:
                return 500, {"error": {"message": f"nothing scripted for model {model!r}", "type": "server_error"}}
        if callable(resp):
            resp = resp(body)
        return self._render(model, body, resp)

    @staticmethod
    def _render(model: str, body: dict[str, Any], resp: Response) -> tuple[int, dict[str, Any]]:
        if isinstance(resp, dict) and "status" in resp:
            status = int(resp["status"])
            msg = resp.get("message", f"scripted HTTP {status}")
            kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
            return status, {"error": {"message": msg, "type": kind, "code": str(status)}}
        if isinstance(resp, str):
            resp = {"content": resp}
        message: dict[str, Any] = {"role": "assistant", "content": resp.get("content")}
        finish = "stop"
        if resp.get("tool_calls"):
            message["tool_calls"] = [
                {
                    "id": tc.get("id", f"call_{i}_" + hashlib.sha256(json.dumps(tc, sort_keys=True).encode()).hexdigest()[:8]),
                    "type": "function",
                    "function": {
                        "name": tc["name"],
                        "arguments": tc["arguments"] if isinstance(tc["arguments"], str) else json.dumps(tc["arguments"]),
                    },
                }
                for i, tc in enumerate(resp["tool_calls"])
            ]
            finish = "tool_calls"
        out: dict[str, Any] = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        usage = resp.get("usage", "auto")
        if usage == "auto":
            completion = len(str(message.get("content") or "").split()) + 10 * len(message.get("tool_calls", []))
            usage = {"prompt_tokens": _words(body), "completion_tokens": completion}
        if usage is not None:
            usage = dict(usage)
            usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
            out["usage"] = usage
        return 200, out

    def start(self) -> ScriptedLLM:
        self._server = _Server(("127.0.0.1", self._bind), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def react(action: str, args: dict[str, Any], *, thought: str = "next step", plan: str = "1. baseline 2. improve 3. submit") -> str:
    """A well-formed research-agent response (MLAgentBench's six entries)."""
    return (
        f"Reflection: looking at the last observation.\n"
        f"Research Plan and Status: {plan}\n"
        f"Fact Check: nothing new is guessed.\n"
        f"Thought: {thought}\n"
        f"Action: {action}\n"
        f"Action Input: {json.dumps(args)}"
    )

