"""``mlgym serve --task T --port P [--host 127.0.0.1]``: one task over OpenEnv's protocol (:mod:`mlgym.integrations.openenv`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mlgym.core.errors import MLGymError
from mlgym.core.parsing import Parser


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym serve", description="Serve one task as an OpenEnv environment (WebSocket sessions, one episode "
               "each, many at once) for RL trainers: OpenEnv's GenericEnvClient, TRL, ... Runs until interrupted.")
    p.add_argument("--task", required=True, help="the task id (mlgym tasks)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 in a container)")
    p.add_argument("--log-dir", type=Path, default=Path("runs/serve"), help="each session's runs go to LOG_DIR/s<NNNN>")
    p.add_argument("--work-dir", type=Path, default=Path("workspaces"))
    p.add_argument("--max-sessions", type=int, default=32, help="sessions at once; more are refused (CAPACITY_REACHED)")
    p.add_argument("--sandbox", default="local")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--reward-mode", choices=("final", "dense"), default="final")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run every session's env on a Ray cluster (HOST:PORT, 'auto', or 'local'): the server holds no sandbox")
    p.add_argument("--ray-resources", default=None, metavar="JSON",
                   help='custom Ray resources each env needs, e.g. \'{"mlgym_env": 1}\' (only the sandbox nodes advertise it)')
    p.add_argument("-v", "--verbose", action="store_true", help="log each request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        from mlgym.integrations.openenv import build_app, serve
    except ImportError as e:
        print(f"error: mlgym serve needs the rl extra ({e}); install it with ./install.sh --rl", file=sys.stderr)
        return 2
    pool = None
    try:
        if a.ray:
            import json

            from mlgym.runs.envpool import EnvPool

            pool = EnvPool(None if a.ray == "local" else a.ray, resources=json.loads(a.ray_resources) if a.ray_resources else None)
        app = build_app(a.task, log_dir=a.log_dir, max_sessions=a.max_sessions, work_dir=a.work_dir, sandbox=a.sandbox,
                        max_steps=a.max_steps, reward_mode=a.reward_mode, pool=pool)
        print(f"mlgym serve: {a.task} on http://{a.host}:{a.port} (OpenEnv; sessions' runs under {a.log_dir})", flush=True)
        serve(app, a.host, a.port, log_level="info" if a.verbose else "warning")
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        if pool is not None:
            pool.close()
    return 0
