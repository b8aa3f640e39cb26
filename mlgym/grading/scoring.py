"""Scoring a submission: the task's family evaluates it in a fresh sandbox (:func:`run_eval`).

:func:`evaluate` asks the task's family for an :class:`~mlgym.grading.base.EvalResult` and adds
what is the same for every task: the baseline, the improvement and success.
:func:`run_eval` is the sandbox mechanics families share: the eval sandbox's workspace
holds only the submission file(s) and the family's grading files; the answers (the
task's ``private/`` data) are mounted read-only at ``answers/``.  The agent's workspace
is never mounted.  The command must print, as the last line of its stdout, a JSON object
``{"score": <float>, "metrics": {...}}`` (``metrics`` optional); a non-zero exit means the
submission is invalid (the last stderr line says why).

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

from mlgym.core.errors import MLGymError
from mlgym.core.fs import copy_out
from mlgym.core.scratch import scratch_dir
from mlgym.grading.base import EvalResult, Submission, evaluator
from mlgym.grading import isolate
from mlgym.sandbox.backends import make_sandbox
from mlgym.sandbox.base import Limits, Mount, capabilities
from mlgym.tasks import taskenv
from mlgym.tasks.spec import TaskData, TaskSpec


def improvement(task: TaskSpec, score: float, baseline: float) -> float:
    if baseline == 0:
        delta = score - baseline
    else:
        delta = (score - baseline) / abs(baseline)
    return delta if task.higher_is_better else -delta


def baseline_for(task: TaskSpec, data: TaskData | None) -> tuple[float | None, str]:
    """The measured baseline for this data (``mlgym baseline``) if any, else task.yaml's."""
    if data is not None:
        try:
            measured = json.loads((data.dir / "baseline.json").read_text())
            how = str(measured.get("measured", "measured on this data"))
            if measured["score"] is None:  # measured: the starter gives no valid submission (issue 22)
                return task.baseline.score, f"{how}; {task.baseline.measured}" if task.baseline.score is not None else how
            return float(measured["score"]), how
        except (OSError, ValueError, KeyError, TypeError):
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
    final_answer: str | None = None,
) -> dict[str, Any]:
    """Score the submission files found in ``submission_dir``.  Never raises for a bad submission.

    ``final_answer`` (the episode's Final Answer text) travels in the :class:`Submission`
    (ML-Bench: the answer may be the command itself)."""
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
    if not (sandbox_options or {}).get("python") and not (sandbox_options or {}).get("env_layer"):
        # the eval runs in the task's environment, as the agent's code did
        sandbox_options = {**taskenv.sandbox_options(task, sandbox), **(sandbox_options or {})}
        python = str(sandbox_options.get("python", python))
    res = evaluator(task).evaluate(task, data, Submission(submission_dir, final_answer), sandbox=sandbox, python=python,
                                   sandbox_options=sandbox_options)
    result.update(res.as_dict())
    if res.valid and res.score is not None and base is not None:
        imp = improvement(task, res.score, base)
        result.update(improvement=imp, success=imp > task.success_threshold)
    return result


def _size_mb(folder: Path) -> int:
    """What copying ``folder`` costs, in MiB (local-plain copies the answers into the eval)."""
    total = sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return total // (1 << 20) + 1


def run_eval(
    task: TaskSpec,
    data: TaskData,
    submission: Submission | Path,
    files: dict[str, Path | bytes],
    argv: list[str],
    *,
    sandbox: str = "local",
    sandbox_options: dict[str, Any] | None = None,
) -> EvalResult:
    """Run ``argv`` in a fresh sandbox holding the submission, ``files`` (name -> host file or
    contents) and the answers at ``answers/``; parse its last stdout line.  Never raises for a
    bad submission."""
    submission_dir = submission.dir if isinstance(submission, Submission) else submission
    missing = [f for f in task.submission if not (submission_dir / f).is_file()]
    if missing:
        return EvalResult(error=f"no submission: {', '.join(missing)} not found in the workspace")
    linked = [f for f in task.submission if (submission_dir / f).is_symlink()]
    if linked:  # never follow an agent's link on the host: it could point at any file
        return EvalResult(error=f"invalid submission: {', '.join(linked)} is a symbolic link, not a file")
    start = time.monotonic()
    # Grader isolation (mlgym.grading.isolate): grader files read-only beside the submission,
    # `python -I`, totals capped, the scratch under a quota of its own.
    with tempfile.TemporaryDirectory(prefix="mlgym-eval-", dir=scratch_dir()) as tmp:  # collected if we are killed
        root = Path(tmp) / "q"
        root.mkdir()
        ws = root / "ws"
        limits = Limits(timeout=task.eval_timeout, memory_mb=task.limits.memory_mb, output_bytes=16 * 1024)
        gdir = root / "grader"
        mounts = [Mount(data.private, "answers"), isolate.mount(gdir)]
        box = make_sandbox(sandbox, ws, limits=limits, mounts=mounts, **(sandbox_options or {}))
        isolated = capabilities(box.name).isolated
        quota = isolate.scratch_quota(root, 0 if isolated else _size_mb(data.private))
        try:
            ws.mkdir()
            budget = isolate.submission_budget()
            for f in task.submission:
                try:  # never through the agent's links, never blocking on its FIFOs; holes stay holes
                    copy_out(submission_dir, f, ws / f, budget=budget)
                except (OSError, MLGymError) as e:
                    return EvalResult(error=f"invalid submission: {f}: {e}")
            isolate.stage(gdir, files)
            (ws / "answers").mkdir()
            (ws / isolate.GRADER_DIR).mkdir()
            isolate.link_data(ws, files)
            box.start()
            try:
                if not isolated:  # no mounts without isolation: copy the answers and grader in
                    shutil.rmtree(ws / "answers")
                    shutil.copytree(data.private, ws / "answers")
                    isolate.copy_in(gdir, ws)
                res = box.exec(isolate.argv(argv, files))
            finally:
                box.stop()
        finally:
            quota.release()
    seconds = round(time.monotonic() - start, 3)
    if not res.ok:
        lines = (res.stderr.strip() or res.stdout.strip() or f"exit {res.returncode}").splitlines()
        return EvalResult(error="invalid submission: " + (lines[-1] if lines else "eval failed"), eval_seconds=seconds)
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
        score = float(out["score"])
        if not math.isfinite(score):
            raise ValueError("score is not finite")
        metrics = {str(k): float(v) for k, v in (out.get("metrics") or {}).items() if isinstance(v, (int, float))}
    except (IndexError, ValueError, KeyError, TypeError, AttributeError) as e:
        return EvalResult(error=f"{argv[1] if len(argv) > 1 else 'the grader'} printed no score ({e})", eval_seconds=seconds)
    return EvalResult(score=score, valid=True, metrics=metrics, eval_seconds=seconds)
