"""``mlgym view RUNS... --port P [--host 127.0.0.1]``: serve the live run viewer (:mod:`mlgym.analysis.view`)."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from mlgym.analysis.view import RunIndex, ViewServer
from mlgym.core.parsing import Parser


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym view", description="Serve a live web viewer over run log folders: a runs index (filter, sort, "
               "compare labels) and each run's steps, observations, file diffs and LLM calls, updating while runs are written.")
    p.add_argument("runs", nargs="+", type=Path, help="log folders: runs, or folders holding runs (searched recursively)")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free one; default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--stale-after", type=float, default=900.0, metavar="SECONDS",
                   help="a run without result.json whose trace nobody holds open and that did not change this long is "
                        "shown as interrupted (only where locks cannot be seen, e.g. another host's runs; default 900)")
    p.add_argument("-v", "--verbose", action="store_true", help="log each request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    for r in a.runs:
        if not r.is_dir():
            print(f"error: {r}: no such folder", file=sys.stderr)
            return 2
    idx = RunIndex(a.runs, stale_after=a.stale_after)
    try:
        srv = ViewServer(idx, a.host, a.port, a.verbose)
    except OSError as e:
        print(f"error: cannot listen on {a.host}:{a.port}: {e.strerror}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    idx.start()  # the first scan runs in the background: pages are served (and fill in) at once
    print(f"serving {srv.url} (Ctrl-C stops)", flush=True)
    threading.Thread(target=_say_indexed, args=(idx, t0), daemon=True).start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        srv.server_close()
        idx.stop()
    return 0


def _say_indexed(idx: RunIndex, t0: float) -> None:
    while idx.scans == 0:
        time.sleep(0.05)
    print(f"{len(idx.rows)} runs indexed in {time.perf_counter() - t0:.2f}s", flush=True)
