"""Scoring a submission with the task's hidden ``eval.py`` in a fresh sandbox.

The eval sandbox's workspace holds only the submission file(s) and a copy of
``eval.py``; the answers (the task's ``private/`` data) are mounted read-only at
``answers/``.  The agent's workspace is never mounted.  ``eval.py`` is run as

    python eval.py --answers answers

and must print, as the last line of its stdout, a JSON object ``{"score": <float>}``;
a non-zero exit means the submission is invalid (the last stderr line says why).

improvement = (score - baseline) / |baseline|, sign flipped when lower is better;
success = improvement > task.success_threshold (0.10 unless the task says otherwise).
The episode's final reward is the improvement (0 when there is no valid submission);
every earlier step's reward is 0.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mlgym.data import TaskData
from mlgym.sandbox import Limits, Mount, make_sandbox
from mlgym.task import TaskSpec



def improvement(task: TaskSpec, score: float, baseline: float) -> float:
    if baseline == 0:
        delta = score - baseline
    else:
        delta = (score - baseline) / abs(baseline)
    return delta if task.higher_is_better else -delta


def baseline_for(task: TaskSpec, data: TaskData | None) -> tuple[float, str]:
    """The measured baseline for this data (``mlgym baseline``) if any, else task.yaml's."""
    if data is not None:
        try:
            measured = json.loads((data.dir / "baseline.json").read_text())
            return float(measured["score"]), str(measured.get("measured", "measured on this data"))
        except (OSError, ValueError, KeyError):
            pass
    return task.baseline.score, task.baseline.measured


def evaluate(
    task: TaskSpec,
    data: TaskData,
    submission_dir: Path,
    *,
    sandbox: str = "local",
    python: str = "python",
    sandbox_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the submission files found in ``submission_dir``.  Never raises for a bad submission."""
    base, base_how = baseline_for(task, data)
    result: dict[str, Any] = {
        "task": task.name,
        "metric": task.metric,
        "direction": task.direction,
        "score": None,
        "baseline": base,
        "baseline_source": base_how,
        "improvement": None,
        "success": False,
        "valid_submission": False,
        "error": None,
    }
    missing = [f for f in task.submission if not (submission_dir / f).is_file()]
    if missing:
        result["error"] = f"no submission: {', '.join(missing)} not found in the workspace"
        return result
    linked = [f for f in task.submission if (submission_dir / f).is_symlink()]
    if linked:  # never follow an agent's link on the host: it could point at any file
        result["error"] = f"invalid submission: {', '.join(linked)} is a symbolic link, not a file"
        return result
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlgym-eval-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        for f in task.submission:
            shutil.copyfile(submission_dir / f, ws / f)
        shutil.copyfile(task.eval_script, ws / "eval.py")
        (ws / "answers").mkdir()
        limits = Limits(timeout=task.eval_timeout, memory_mb=task.limits.memory_mb, output_bytes=16 * 1024)
        box = make_sandbox(sandbox, ws, limits=limits, mounts=[Mount(data.private, "answers")], **(sandbox_options or {}))
        box.start()
        try:
            if box.name == "local-plain":  # no mounts without isolation: copy the answers in
                shutil.rmtree(ws / "answers")
                shutil.copytree(data.private, ws / "answers")
            res = box.exec([python, "eval.py", "--answers", "answers"])
        finally:
            box.stop()
    result["eval_seconds"] = round(time.monotonic() - start, 3)
    if not res.ok:
        lines = (res.stderr.strip() or res.stdout.strip() or f"exit {res.returncode}").splitlines()
        result["error"] = "invalid submission: " + (lines[-1] if lines else "eval failed")
        return result
    try:
        score = float(json.loads(res.stdout.strip().splitlines()[-1])["score"])
        if not math.isfinite(score):
            raise ValueError("score is not finite")
    except (IndexError, ValueError, KeyError, TypeError) as e:
        result["error"] = f"eval.py printed no score ({e})"
        return result
    imp = improvement(task, score, base)
    result.update(score=score, improvement=imp, success=imp > task.success_threshold, valid_submission=True)
    return result
