"""What keeps a grader apart from everything the agent wrote (used by :func:`mlgym.grading.scoring.run_eval`).

* The grader's files live in their own host folder, owned by the harness, bound **read-only**
  at ``.mlgym-grader/`` of the eval sandbox (local-plain: copied there after the sandbox's uid
  took the workspace over, root-owned 0755); the submission is the eval workspace itself.
* The grader starts as ``python -I -c SHIM .mlgym-grader <script> args...``: ``-I`` puts neither
  the working directory nor the script's folder on ``sys.path`` (and ignores ``PYTHON*``
  variables and the user site); the shim adds only the read-only grader folder, makes the
  process non-dumpable (code the grader starts, running as the same uid, can neither read its
  memory through ``/proc/<pid>/mem`` nor trace it) and runs the script as ``__main__``.
  Nothing the submission holds is importable by the grader; a grader that must run agent code
  does it in a child process and measures from outside (mlagentbench vectorization,
  llama-inference).
* What a submission may bring into scoring is capped in total (:func:`submission_budget`: files,
  apparent size, allocated bytes); copies keep holes holes (:func:`mlgym.core.fs.copy_out`).
* The eval's scratch folder is a quota of its own (:func:`scratch_quota`: a loop-mounted ext4 as
  big as the allocation cap plus working room), so a grader's writes cannot fill the host either.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

from mlgym.core.fs import CopyBudget
from mlgym.sandbox.base import Mount
from mlgym.sandbox.quota import Quota

GRADER_DIR = ".mlgym-grader"  # in the eval workspace, read-only
SUBMISSION_FILES_MAX = 10_000
SUBMISSION_APPARENT_MAX = 4 << 30  # bytes: sum of st_size over every file copied into scoring
SUBMISSION_ALLOCATED_MAX = 2 << 30  # bytes: sum of the data actually copied (holes cost nothing)
SCRATCH_ROOM_MB = 2048  # what a grader may write beside the submission (child outputs, model copies)

SHIM = (
    "import ctypes, os, runpy, sys\n"
    "g = os.path.abspath(sys.argv[1]); script = os.path.join(g, sys.argv[2])\n"
    "try:\n    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0\n"
    "except Exception:\n    pass\n"
    "sys.argv = [script, *sys.argv[3:]]\n"
    "sys.path.insert(0, g)\n"
    "runpy.run_path(script, run_name='__main__')\n"
)


def submission_budget() -> CopyBudget:
    return CopyBudget(files=SUBMISSION_FILES_MAX, apparent=SUBMISSION_APPARENT_MAX, allocated=SUBMISSION_ALLOCATED_MAX)


def stage(folder: Path, files: Mapping[str, Path | bytes]) -> Path:
    """Write the grader's ``files`` into ``folder`` (made here): harness-owned, 0755/0644."""
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    for name, src in files.items():
        dest = folder / name
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if isinstance(src, bytes):
            dest.write_bytes(src)
        else:
            shutil.copyfile(src, dest)
        os.chmod(dest, 0o644)
    return folder


def link_data(ws: Path, files: Mapping[str, object]) -> None:
    """Graders read their data files (``grader.json``...) by name from the working directory:
    each non-Python grader file gets a link there into the read-only grader folder (replacing
    whatever the submission put under that name).  Python files are imported from the grader
    folder itself, never from the working directory."""
    for name in files:
        if name.endswith(".py"):
            continue
        dest = ws / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif os.path.lexists(dest):
            os.unlink(dest)
        os.symlink(os.path.relpath(ws / GRADER_DIR / name, dest.parent), dest)


def mount(folder: Path) -> Mount:
    return Mount(folder, GRADER_DIR, read_only=True)


def copy_in(folder: Path, ws: Path) -> None:
    """local-plain (no mounts): the grader folder copied into the workspace after the sandbox's
    uid took it over, so it stays the harness's (root: not writable by that uid)."""
    dest = ws / GRADER_DIR
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    elif os.path.lexists(dest):
        os.unlink(dest)
    shutil.copytree(folder, dest)


def argv(argv: Sequence[str], files: Mapping[str, object]) -> list[str]:
    """``[python, "<grader file>", args...]`` -> the isolated start of that file; any other argv
    still gets ``-I`` after the interpreter."""
    out = list(argv)
    if len(out) >= 2 and out[1] in files:
        return [out[0], "-I", "-c", SHIM, GRADER_DIR, *out[1:]]
    if out and len(out) >= 2 and os.path.basename(out[0]).startswith("python") and out[1] != "-I":
        return [out[0], "-I", *out[1:]]
    return out


def scratch_quota(folder: Path, extra_mb: int = 0) -> Quota:
    """Put ``folder`` (empty) under a quota: the submission caps plus working room (root:
    loop-mounted ext4, sparse; otherwise a soft quota that only measures)."""
    return Quota.mount(folder, SUBMISSION_ALLOCATED_MAX // (1 << 20) + SCRATCH_ROOM_MB + extra_mb)
