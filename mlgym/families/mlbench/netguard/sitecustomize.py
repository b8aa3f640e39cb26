"""Loaded by every Python of a row run without the network (PYTHONPATH=<this folder>):
a connection to a host other than this machine fails at once, and the host (plus the URL
when urllib/requests/huggingface_hub name one) is appended to $MLGYM_NETLOG, so the eval can
say in one line which download the row needs.  Not a sandbox: the sandbox's own network
switch stays the wall; this only makes the failure legible and fast."""
from __future__ import annotations

import os
import socket
from typing import Any

_LOG = os.environ.get("MLGYM_NETLOG")
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
_real_getaddrinfo = socket.getaddrinfo


def _note(what: str) -> None:
    if _LOG:
        try:
            with open(_LOG, "a") as f:
                f.write(what + "\n")
        except OSError:
            pass


def _guarded(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    h = host.decode() if isinstance(host, bytes) else str(host or "")
    if h not in _LOCAL and not h.startswith("127.") and not h.startswith("/"):
        _note(f"host {h}:{port}")
        raise socket.gaierror(socket.EAI_NONAME, f"network disabled for this ML-Bench row: {h} "
                              f"(MLGYM_MLBENCH_NETWORK=1 allows downloads)")
    return _real_getaddrinfo(host, port, *args, **kwargs)


socket.getaddrinfo = _guarded

try:  # the URL, where the download goes through urllib (torchvision, torch.hub, many repos)
    import urllib.request as _ur

    _real_open = _ur.OpenerDirector.open

    def _open(self: Any, fullurl: Any, *a: Any, **k: Any) -> Any:
        url = fullurl if isinstance(fullurl, str) else getattr(fullurl, "full_url", "")
        if url.startswith(("http://", "https://", "ftp://")):
            _note(f"url {url}")
        return _real_open(self, fullurl, *a, **k)

    _ur.OpenerDirector.open = _open  # type: ignore[method-assign]
except Exception:  # noqa: BLE001 - never break the row's own start-up
    pass

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # huggingface_hub/transformers fail at once instead of retrying
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
