"""An AutoML framework as an agent: write a script that fits it within the task's constraint, run it, submit.

``--agent automl --framework sklearn|flaml|autogluon|constantpredictor|randomforest [--framework-params JSON]``
(the last two are AMLB's reference frameworks: class prior / median, and its time-bounded growing forest).  The script (``automl_script.py``,
written into the workspace as ``automl.py``) reads ``data/task.json`` of an AMLB task: the
target, task type, metrics and the constraint's time and cores.  So a grid can put FLAML and
an LLM research agent side by side on the same folds.  scikit-learn is always there; FLAML is
and AutoGluon (autogluon.tabular, locked) are in the AMLB task environment, built on first use.

Multimodal tasks (``mlgym.families.multimodal.family``) write a ``data/task.json`` too (image, text
and numeric columns, the submission format, a constraint from the task's limits): the script
fits sklearn or FLAML on engineered image and text columns, or AutoGluon's MultiModalPredictor
(``pip install autogluon.multimodal``).  There the agent also passes the episode's own time
(the smaller of its max time and one Execute Script's timeout), which may be below the task's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gymnasium as gym

from mlgym.agents.baseline import BaselineAgent
from mlgym.core.errors import AgentError

FRAMEWORKS = ("sklearn", "flaml", "autogluon", "constantpredictor", "randomforest")
# AMLB gives a framework its whole max_runtime_seconds (the job is stopped later, at min(2x, +1 h)); sklearn keeps a margin.
TIME_SHARE = {"sklearn": 0.6, "flaml": 1.0, "autogluon": 1.0, "constantpredictor": 1.0, "randomforest": 1.0}
SCRIPT = "automl.py"
CONFIG_LINE = 'CONFIG = {"framework": "sklearn", "time_share": 0.6, "seed": 0, "submission": "predictions.csv"}'


def script_text(framework: str, seed: int = 0, submission: str = "predictions.csv", seconds: float | None = None,
                params: dict[str, Any] | None = None) -> str:
    """The workspace script for ``framework`` (one of :data:`FRAMEWORKS`); ``seconds`` caps the constraint's time;
    ``params``: the framework's own arguments (AMLB's frameworks.yaml ``params``: AutoGluon presets, ...)."""
    if framework not in FRAMEWORKS:
        raise AgentError(f"--framework {framework!r}: choose one of {', '.join(FRAMEWORKS)}")
    text = (Path(__file__).resolve().parent / "automl_script.py").read_text()
    assert CONFIG_LINE in text, "automl_script.py lost its CONFIG line"
    config: dict[str, Any] = {"framework": framework, "time_share": TIME_SHARE[framework], "seed": seed, "submission": submission}
    if params:
        config["params"] = params
    if seconds is not None:
        config["seconds"] = int(seconds)
    text = text.replace(CONFIG_LINE, f"CONFIG = {json.dumps(config)}")
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("# mypy:")) + "\n"


class AutoMLAgent(BaselineAgent):
    """Writes the framework's script, then runs it as the baseline agent runs the starter, and submits."""

    name = "automl"
    script = SCRIPT

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        super().__init__(args)
        self.framework = str(getattr(args, "framework", None) or "sklearn")
        self.seed = int(getattr(args, "seed", 0) or 0)
        raw = getattr(args, "framework_params", None) or "{}"
        try:
            self.params = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError as e:
            raise AgentError(f"--framework-params: give a JSON object, e.g. '{{\"presets\": \"best_quality\"}}': {e}") from None
        if not isinstance(self.params, dict):
            raise AgentError("--framework-params: give a JSON object")
        script_text(self.framework)  # an unknown framework fails before the episode starts

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        if "task.json" not in obs:
            raise AgentError("the automl agent runs AMLB tasks (amlb/<benchmark>/<dataset>/<fold>) and multimodal tasks: "
                             "it needs data/task.json")
        seconds = None
        if info.get("family") == "multimodal":  # its task.json holds the task's limits; the episode's may be tighter
            seconds = min(float(info["max_time"]), float(info["exec_timeout"]))
        obs, _reward, terminated, truncated, info = env.step(
            {"name": "Write File", "arguments": {"file_name": SCRIPT, "content": script_text(self.framework, self.seed, seconds=seconds,
                                                                                     params=self.params)}})
        if terminated or truncated:
            return info.get("result")
        return super().run(env, obs, info)
