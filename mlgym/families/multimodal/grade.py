"""The multimodal family's grader: the generic grader, plus AutoGluon-Bench's custom metric hook.

Self-contained (copied into the eval sandbox beside ``grader.py``, ``metrics.py`` and
``grader.json``).  When ``grader.json`` has ``custom: {file, function, kind, direction}``, the
function ``fn(y_true, y_pred) -> float`` from ``file`` (the user's ``metrics_path``) becomes
the metric named in ``metric`` before the generic grader runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any


def _load(path: str, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    grader = _load(os.path.join(here, "grader.py"), "grader")
    config_path = argv[argv.index("--config") + 1] if "--config" in argv else "grader.json"
    with open(config_path) as f:
        config = json.load(f)
    custom = config.get("custom")
    if custom:
        import numpy as np

        fn = getattr(_load(os.path.join(here, custom["file"]), "custom_metric"), custom["function"])
        M = grader.M
        M.METRICS[config["metric"]] = M.Metric(config["metric"], custom["direction"], custom["kind"],
                                               lambda t, p: float(fn(np.asarray(t), np.asarray(p))), "custom metric")
    return int(grader.main(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
