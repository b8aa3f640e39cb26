"""The ML-Bench family: run a task inside a real ML repository from an instruction.

ML-Bench (arXiv 2311.09835, ``super-dainiu/ml-bench``) gives per row a GitHub repository
(``github``, ``github_id``), a folder in it (``path``), a user ``instruction``, the
``arguments`` the answer must use, the answer ``type`` (``Bash Script`` or ``Python Code``),
the reference answer ``output``, the README segment that holds it (``oracle``) and
``prefix_code`` (setup shown to the agent).  Every row is a task ``mlbench-<id>``::

    MLGYM_MLBENCH=rows.jsonl           # or .parquet, in the dataset's schema; default: the hub
    MLGYM_MLBENCH_SPLIT=quarter        # hub split (full: 260 rows, quarter: 68); default full
    MLGYM_MLBENCH_REPOS=mirrors/       # mirrors/<repository name> is a git repository used
                                       # instead of cloning ``github``
    MLGYM_MLBENCH_NETWORK=1            # agent code and the eval may reach the network (default: not)
    mlgym tasks --family mlbench
    mlgym run --task mlbench-42 --agent oracle

The agent setting is ML-Agent-Bench as OpenHands runs it: the repository is checked out at
ML-Bench's pinned commit in the workspace (``<repo>/``); the agent works in the row's
``path`` and writes ``run.sh`` there.  The eval copies that ``run.sh`` into a *fresh*
checkout in a fresh sandbox and runs ``bash run.sh`` from ``path`` with a timeout (120 s,
``MLGYM_MLBENCH_TIMEOUT``): it passes when it exits 0, is still running at the timeout, or
stopped with ``KeyboardInterrupt``.  The one-shot checks (every argument value a
lower-case substring, the expected type) are reported beside it for every run
(``metrics``: ``exec_pass``, ``args_pass``, ``type_pass``, ``all_pass``: ML-Bench's own
checks).  The reward (``score``) is a full pass: execution *and* every check, with the
argument values found in run.sh outside comments (``args_code_pass``), so a ``# S=8`` comment
above ``exit 0`` does not pass.

Environments: each repository runs in its own task environment, built on first use from what
the repository declares at the pin (:mod:`mlgym.families.mlbench.envs`: requirements.txt,
setup.py, setup.cfg, pyproject.toml, environment.yml's pip part, plus ``envs.yaml``'s extras)
with PyTorch's CPU build (:mod:`mlgym.tasks.taskenv`: cached by content, resumable, offline
wheelhouse, a Docker layer for ``--sandbox docker``).  ``MLGYM_MLBENCH_PYTHON_<REPO>`` /
``MLGYM_MLBENCH_IMAGE_<REPO>`` override it.  Without ``MLGYM_MLBENCH_NETWORK=1`` the eval's
Python fails a download at once and the row fails with one line naming it.

Repositories: a bare clone of ``github`` (or the local mirror) is kept once in the data
cache; each commit is extracted once (``git archive``, the mirror is only read) into a
pristine tree, and each episode copies that tree (``cp --reflink=auto``: a reflink where the
file system has them).  Neither the mirror nor the pristine tree is visible to the agent.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from mlgym.tasks.data import TaskData, build, data_root
from mlgym.tasks.spec import TaskEnvironment, TaskSpec
from mlgym.core.errors import DataError, MLGymError, TaskError
from mlgym.grading.base import EvalResult, Submission
from mlgym.sandbox.base import Limits, Mount

__all__ = ["HUB", "PINS", "PREFIX", "MLBenchFamily", "Row", "check_arguments", "check_type", "load_rows", "row_task",
           "task_names"]

HUB = "super-dainiu/ml-bench"
PREFIX = "mlbench-"
COLUMNS = ("github_id", "github", "repo_id", "id", "path", "arguments", "instruction", "oracle", "type", "output", "prefix_code")
DEFAULT_TIMEOUT = 120.0  # seconds: `timeout 120s bash run.sh` in ML-Bench's OpenHands harness
# ML-Bench's repositories by github_id: its folder name under repos/ and the commit its prepare script pins
# (scripts/post_process/prepare.sh; 12 is not in the dataset).
PINS: dict[int, tuple[str, str]] = {
    1: ("dgl", "f5c8c0b500db810210d22add9b7d6fc809edc0d2"),
    2: ("bert", "eedf5716ce1268e56f0a50264a88cafad334ac61"),
    3: ("lavis", "7f00a08"),
    4: ("if", "ffc8163891682beaca0c5eb6b9077860a3bc6509"),
    5: ("vid2vid", "2e6d13755fc2e33200e7d4c0c44f2692d6ab0898"),
    6: ("esm", "2b369911bb5b4b0dda914521b9475cad1656b2ac"),
    7: ("open_clip", "91923dfc376afb9d44577a0c9bd0930389349438"),
    8: ("Time-Series-Library", "51e80b6f76b7823fea2512d6d170b1b83b149d2d"),
    9: ("External-Attention-pytorch", "90e774ed4a2a734fe91dde6a4a737de0f0c54122"),
    10: ("PyTorch-GAN", "36d3c77e5ff20ebe0aeefd322326a134a279b93e"),
    11: ("pytorch-image-models", "205d8ad37c838c20c541b787dca840edd9ed1408"),
    13: ("learning3d", "becc4a0017488390d3f04e4bc2ce9efb368115c5"),
    14: ("muzic", "9d52ff30b209a19fe51606242797c51a1bf7d7c1"),
    15: ("Grounded-Segment-Anything", "d1c510118c0fdffb87bab3cd3dfe3e6b02a36f8b"),
}
_LOCK = threading.Lock()  # one clone / extraction of a repository at a time within the process


# ------------------------------------------------------------------ rows
@dataclasses.dataclass(frozen=True)
class Row:
    """One dataset row, validated; ``arguments`` as (name, value) pairs."""

    github_id: int
    github: str
    repo_id: int
    id: str
    path: str
    arguments: tuple[tuple[str, str], ...]
    instruction: str
    oracle: str
    type: str
    output: str
    prefix_code: str

    @property
    def task_name(self) -> str:
        return PREFIX + self.id

    @property
    def repo(self) -> str:
        """The repository's name: the last part of its GitHub URL (OpenHands' folder name)."""
        return self.github.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        """``path`` relative to the repository root ("" for the root itself)."""
        parts = [p for p in PurePosixPath(self.path.strip()).parts if p not in (".", "/")]
        return "/".join(parts)

    @property
    def workdir(self) -> str:
        """Where the agent works, relative to the workspace: ``<repo>/<path>``."""
        return f"{self.repo}/{self.folder}".rstrip("/")

    @property
    def run_sh(self) -> str:
        return f"{self.workdir}/run.sh"


def _parse_arguments(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)  # the dataset stores Python dict literals; never eval
            except (ValueError, SyntaxError):
                raise TaskError(f"{where}: arguments: not a mapping: {text[:80]!r}") from None
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise TaskError(f"{where}: arguments: expected a mapping of argument names to values, got {type(value).__name__}")
    return tuple((str(k), str(v)) for k, v in value.items())


def _row(raw: dict[str, Any], where: str) -> Row:
    missing = [c for c in COLUMNS if c not in raw]
    if missing:
        raise TaskError(f"{where}: missing column(s) {', '.join(missing)}; ML-Bench rows have {', '.join(COLUMNS)}")
    try:
        github_id, repo_id = int(raw["github_id"]), int(raw["repo_id"])
    except (TypeError, ValueError):
        raise TaskError(f"{where}: github_id and repo_id must be integers") from None
    rid = str(raw["id"]).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.]+", rid):
        raise TaskError(f"{where}: id {rid!r}: use letters, digits, '_' or '.'")
    row = Row(github_id=github_id, github=str(raw["github"] or ""), repo_id=repo_id, id=rid, path=str(raw["path"] or "."),
              arguments=_parse_arguments(raw["arguments"], where), instruction=str(raw["instruction"] or ""),
              oracle=str(raw["oracle"] or ""), type=str(raw["type"] or ""), output=str(raw["output"] or ""),
              prefix_code=str(raw["prefix_code"] or ""))
    if not row.repo or not re.fullmatch(r"[A-Za-z0-9_.-]+", row.repo) or row.repo in (".", ".."):
        raise TaskError(f"{where}: github {row.github!r} names no repository")
    if ".." in PurePosixPath(row.path).parts:
        raise TaskError(f"{where}: path {row.path!r} leaves the repository")
    return row


def source() -> str:
    """Where rows come from: ``$MLGYM_MLBENCH`` (a file) or the hub dataset and split."""
    path = os.environ.get("MLGYM_MLBENCH")
    return str(Path(path).expanduser().resolve()) if path else f"{HUB}:{os.environ.get('MLGYM_MLBENCH_SPLIT', 'full')}"


def load_rows() -> list[Row]:
    """The rows of the configured source (cached per source and file modification time)."""
    src = source()
    stamp = 0.0
    if not src.startswith(HUB + ":"):
        try:
            stamp = Path(src).stat().st_mtime
        except OSError:
            raise TaskError(f"MLGYM_MLBENCH={src}: no such file (give a JSONL or parquet file in ML-Bench's schema)") from None
    return list(_load(src, stamp))


@functools.lru_cache(maxsize=8)
def _load(src: str, _stamp: float) -> tuple[Row, ...]:
    if src.startswith(HUB + ":"):
        raws, where = _from_hub(src.split(":", 1)[1]), HUB
    else:
        raws, where = _from_file(Path(src)), src
    rows = [_row(r, f"{where} row {i}") for i, r in enumerate(raws)]
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r.id in seen:
            raise TaskError(f"{where}: rows {seen[r.id]} and {i} have the same id {r.id!r}")
        seen[r.id] = i
    return tuple(rows)


def _from_file(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        try:
            return [dict(r) for r in pq.read_table(path).to_pylist()]
        except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise TaskError(f"{path}: not a readable parquet file: {e}") from None
    out = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TaskError(f"{path}: cannot read: {e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise TaskError(f"{path}:{n}: not JSON ({e}); give one ML-Bench row per line (JSONL) or a .parquet file") from None
        if not isinstance(rec, dict):
            raise TaskError(f"{path}:{n}: expected a JSON object (one row)")
        out.append(rec)
    return out


def rows_cache(split: str) -> Path:
    """Where the rows of a hub split are kept once loaded (used when the hub cannot be reached)."""
    return data_root() / "mlbench-rows" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', split)}.jsonl"


def hub_unreachable(seconds: float = 1.0) -> str | None:
    """Why the hub cannot be reached now (offline switch, or no connection within ``seconds``),
    None when it can.  Behind a proxy the connection is left to the hub client."""
    import sys

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set (Offline)"
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None and getattr(hub, "HF_HUB_OFFLINE", False):
        return "huggingface_hub is Offline"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    from urllib.parse import urlsplit

    host = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    result: list[str | None] = []

    def probe() -> None:
        import socket

        try:
            socket.create_connection((host, 443), timeout=seconds).close()
            result.append(None)
        except OSError as e:
            result.append(f"{host} unreachable ({type(e).__name__}: {' '.join(str(e).split())[:80]})")

    t = threading.Thread(target=probe, daemon=True)  # name resolution may hang longer than the timeout
    t.start()
    t.join(seconds + 0.2)
    return result[0] if result else f"{host} unreachable (no answer in {seconds:g} s)"


def _from_hub(split: str) -> list[dict[str, Any]]:
    cache = rows_cache(split)
    why = hub_unreachable()
    if why is not None:
        if cache.is_file():
            return _from_file(cache)
        raise TaskError(f"cannot load {HUB} split {split!r}: {why}; without the hub, set MLGYM_MLBENCH to a JSONL "
                        f"or parquet file of its rows")
    try:
        import datasets  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise TaskError("the ML-Bench rows come from the `datasets` library: pip install datasets, or set MLGYM_MLBENCH=FILE") from None
    try:
        ds = datasets.load_dataset(HUB, split=split)
    except Exception as e:  # noqa: BLE001 - offline, unknown split, hub errors: one line
        if cache.is_file():
            return _from_file(cache)
        first = " ".join(str(e).split())[:200]
        raise TaskError(f"cannot load {HUB} split {split!r} ({type(e).__name__}: {first}); without the hub, "
                        f"set MLGYM_MLBENCH to a JSONL or parquet file of its rows") from None
    rows = [dict(r) for r in ds]
    try:  # the row list for the next time the hub cannot be reached
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
        os.replace(tmp, cache)
    except OSError:
        pass
    return rows


def task_names() -> list[str]:
    return [r.task_name for r in load_rows()]


def row_task(name: str) -> Any:
    """The TaskSpec of ``mlbench-<id>`` (or ``mlbench/<id>``), None for names of other families."""
    key = name.replace("/", "-", 1) if name.startswith("mlbench/") else name
    if key == PREFIX.rstrip("-"):
        raise TaskError("name the ML-Bench row: mlbench-<id>, e.g. gym.make('mlgym/mlbench-v0', task='mlbench-<id>'); "
                        "`mlgym tasks --family mlbench` lists them")
    if not key.startswith(PREFIX):
        return None
    rows = load_rows()
    for r in rows:
        if r.task_name == key:
            return spec_for(r)
    shown = ", ".join(r.task_name for r in rows[:8]) + (", ..." if len(rows) > 8 else "")
    raise TaskError(f"unknown task {name!r}: no row with id {key[len(PREFIX):]!r} in {source()} ({len(rows)} rows: {shown})")


class _Options:
    """What an ML-Bench task adds to its TaskSpec (hashable, like the frozen spec)."""

    def __init__(self, row: Row, timeout: float) -> None:
        self.row, self.timeout = row, timeout

    def __repr__(self) -> str:
        return f"_Options(id={self.row.id!r}, repo={self.row.repo!r})"


def options(task: Any) -> _Options:
    if not isinstance(task.options, _Options):
        raise TaskError(f"task {task.name!r} is not an ML-Bench row")
    return task.options


def timeout() -> float:
    raw = os.environ.get("MLGYM_MLBENCH_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise TaskError(f"MLGYM_MLBENCH_TIMEOUT={raw!r}: give seconds, e.g. 120") from None
    if not value > 0:
        raise TaskError(f"MLGYM_MLBENCH_TIMEOUT={raw!r}: must be positive")
    return value


def spec_for(row: Row) -> Any:
    from mlgym.tasks.spec import Baseline, TaskLimits

    t = timeout()
    src = source()
    return TaskSpec(
        name=row.task_name, root=Path(src).parent if not src.startswith(HUB + ":") else data_root(),
        description=row.instruction.strip(), metric="pass", direction="higher", submission=(row.run_sh,),
        baseline=Baseline(0.0, "ML-Bench scores a row 1 (passes) or 0; without run.sh nothing passes"),
        limits=TaskLimits(max_steps=30, max_time=3600.0, exec_timeout=max(t, 60.0),
                          network=os.environ.get("MLGYM_MLBENCH_NETWORK", "") not in ("", "0")),  # real rows download weights
        success_threshold=0.5, eval_timeout=t + 120.0, kind=MLBenchFamily.kind,
        source=Path(src) if not src.startswith(HUB + ":") else None, options=_Options(row, t),
        environment=environment_spec(row),
    )


def environment_spec(row: Row) -> TaskEnvironment:
    """The row's task environment: ``MLGYM_MLBENCH_PYTHON_<REPO>`` / ``MLGYM_MLBENCH_IMAGE_<REPO>``
    when set, else the repository's own, planned from its files at the pin once they are there
    (:func:`repo_environment`)."""
    python, image = interpreter_for(row), image_for(row)
    if python or image:
        return TaskEnvironment(python=python, image=image)
    return TaskEnvironment(resolve=functools.partial(repo_environment, row))


def repo_environment(row: Row) -> TaskEnvironment:
    """What the repository declares at ML-Bench's pin (+ envs.yaml's extras), torch as the lock's CPU
    build and nothing else pinned; a repository that declares nothing runs in the default environment."""
    tree, _sha = pristine(row)
    return _repo_environment(str(tree), row.repo, row.github_id)


@functools.lru_cache(maxsize=64)
def _repo_environment(tree: str, repo: str, github_id: int) -> TaskEnvironment:
    from mlgym.families.mlbench import envs
    from mlgym.tasks.taskenv import lock_constraints

    p = envs.plan(Path(tree), envs.extras_for(repo, github_id if github_id in PINS else None))
    if not p.requirements and not p.local:
        return TaskEnvironment()
    return TaskEnvironment(requirements=tuple(p.requirements), constraints=tuple(envs.torch_constraint(lock_constraints())),
                           defaults=False, local=tuple(str(Path(tree) / f) for f in p.local))


def environment_plan(row: Row) -> "Any":
    """The repository's :class:`~mlgym.families.mlbench.envs.Plan` (requirements and the note of every
    change from its declarations), for ``mlgym mlbench env``-style listings."""
    from mlgym.families.mlbench import envs

    tree, _sha = pristine(row)
    return envs.plan(tree, envs.extras_for(row.repo, row.github_id if row.github_id in PINS else None))


# ------------------------------------------------------------------ repositories
def repos_root() -> Path:
    return data_root() / "mlbench-repos"


def _git(args: list[str], *, cwd: Path | None = None, timeout: float = 600.0) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except FileNotFoundError:
        raise DataError("git is not installed; ML-Bench tasks need it to check out their repositories") from None
    except subprocess.TimeoutExpired:
        raise DataError(f"git {' '.join(args[:2])} took longer than {timeout:g}s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
        raise DataError(f"git {' '.join(args[:2])}: {last}")
    return proc.stdout


def mirror_for(row: Row, say: Callable[[str], None] | None = None) -> Path:
    """The git repository holding ``row``'s history: ``$MLGYM_MLBENCH_REPOS/<name>`` (the GitHub
    name, or ML-Bench's folder name), else a bare clone of ``github`` in the data cache."""
    local = os.environ.get("MLGYM_MLBENCH_REPOS")
    names = list(dict.fromkeys([row.repo, *([PINS[row.github_id][0]] if row.github_id in PINS else [])]))
    if local:
        for name in names:
            cand = Path(local).expanduser() / name
            if (cand / ".git").exists() or (cand / "HEAD").is_file():
                return cand.resolve()
        raise DataError(f"{row.task_name}: MLGYM_MLBENCH_REPOS={local} has no git repository "
                        f"{' or '.join(names)} (clone {row.github} there)")
    bare = repos_root() / f"{row.repo}.git"
    with _LOCK:
        if not (bare / "HEAD").is_file():
            if not row.github.startswith(("https://", "http://", "git@", "file://", "/")):
                raise DataError(f"{row.task_name}: cannot clone {row.github!r}; set MLGYM_MLBENCH_REPOS to a folder of mirrors")
            (say or (lambda m: None))(f"cloning {row.github} (once, into {bare})")
            tmp = bare.with_name(bare.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            try:
                _git(["clone", "--bare", "--quiet", row.github, str(tmp)], timeout=3600)
            except DataError as e:
                shutil.rmtree(tmp, ignore_errors=True)
                raise DataError(f"{row.task_name}: {e} (no network? set MLGYM_MLBENCH_REPOS to a folder holding {row.repo}/)") from None
            _publish(tmp, bare)
    return bare


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` to ``final``; another process that got there first wins (its
    copy is complete: only finished folders are ever renamed into place, and one in use is never removed)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def commit_for(row: Row, mirror: Path) -> str:
    """ML-Bench's pinned commit of the row's repository (full SHA); HEAD for a repository it does not pin."""
    want = PINS[row.github_id][1] if row.github_id in PINS else "HEAD"
    try:
        return _git(["rev-parse", "--verify", "--quiet", f"{want}^{{commit}}"], cwd=mirror).strip()
    except DataError:
        raise DataError(f"{row.task_name}: {mirror} does not hold commit {want} (ML-Bench's pin for {row.repo}); "
                        f"fetch it into the mirror") from None


def pristine(row: Row, say: Callable[[str], None] | None = None) -> tuple[Path, str]:
    """The repository's files at the pinned commit, extracted once per commit (read-only use)."""
    mirror = mirror_for(row, say)
    sha = commit_for(row, mirror)
    tree = repos_root() / "trees" / f"{row.repo}-{sha[:12]}"
    with _LOCK:
        if not (tree / ".mlgym-complete").is_file():
            (say or (lambda m: None))(f"extracting {row.repo} at {sha[:12]} into {tree}")
            tmp = tree.with_name(tree.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            archive = subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=mirror, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            untar = subprocess.run(["tar", "-x", "-C", str(tmp)], stdin=archive.stdout, capture_output=True)
            assert archive.stdout is not None
            archive.stdout.close()
            err = archive.stderr.read().decode(errors="replace") if archive.stderr else ""
            if archive.wait() != 0 or untar.returncode != 0:
                # a mirror without its largest blobs (a partial clone, a stored copy): every blob it has,
                # and the list of the others (git archive stops at the first missing one)
                why = (err or untar.stderr.decode(errors="replace")).strip().splitlines()
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                try:
                    missing = _extract_present(mirror, sha, tmp)
                except (OSError, subprocess.SubprocessError, ValueError):
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise DataError(f"{row.task_name}: cannot extract {sha[:12]} from {mirror}: {why[-1] if why else 'failed'}") from None
                (tmp / MISSING).write_text("".join(m + "\n" for m in missing))
                (say or (lambda m: None))(f"{mirror} lacks {len(missing)} file(s) of {sha[:12]} (listed in {tree / MISSING})")
            (tmp / ".mlgym-complete").write_text(f"{row.github} {sha}\n")
            _publish(tmp, tree)
    return tree, sha


MISSING = ".mlgym-missing"


def _extract_present(mirror: Path, sha: str, dest: Path) -> list[str]:
    """Write every blob of commit ``sha`` the mirror holds into ``dest``; returns the paths of the others."""
    ls = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", sha], cwd=mirror, capture_output=True, check=True,
                        stdin=subprocess.DEVNULL, timeout=600).stdout
    entries: list[tuple[str, bytes, str]] = []
    for rec in ls.split(b"\0"):
        if rec:
            meta, path = rec.split(b"\t", 1)
            fmode, kind, obj = meta.split()
            rel = os.fsdecode(path)
            if kind == b"blob" and not rel.startswith("/") and ".." not in PurePosixPath(rel).parts:
                entries.append((fmode.decode(), obj, rel))
    missing: list[str] = []
    root = os.path.realpath(dest)
    proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=mirror, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for mode, blob, rel in entries:
            proc.stdin.write(blob + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3 or header[1] == b"missing":
                missing.append(rel)
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.realpath(out.parent).startswith(root):
                continue  # through a symlink of the tree: never outside it
            if mode == "120000":
                if not out.is_symlink():
                    os.symlink(os.fsdecode(data), out)
            else:
                out.write_bytes(data)
                out.chmod(0o755 if mode == "100755" else 0o644)
    finally:
        proc.stdin.close()
        proc.wait()
    return missing


def checkout(row: Row, dest: Path, say: Callable[[str], None] | None = None) -> str:
    """A writable copy of the pinned tree at ``dest`` (must not exist); returns the commit."""
    tree, sha = pristine(row, say)
    cp = subprocess.run(["cp", "-a", "--reflink=auto", str(tree), str(dest)], capture_output=True, stdin=subprocess.DEVNULL)
    if cp.returncode != 0:  # no GNU cp: the portable copy
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(tree, dest, symlinks=True)
    (dest / ".mlgym-complete").unlink(missing_ok=True)
    (dest / MISSING).unlink(missing_ok=True)
    return sha


# ------------------------------------------------------------------ checks (ML-Bench's, both settings)
def check_arguments(text: str, arguments: Iterable[tuple[str, str]]) -> list[str]:
    """The argument values missing from ``text`` (ML-Bench: each value a lower-case substring)."""
    low = text.lower()
    return [f"{k}={v}" for k, v in arguments if str(v).lower() not in low]


def without_comments(text: str) -> str:
    """``text`` with shell/Python ``#`` comments cut (a ``#`` at the start of a word, outside
    quotes); a line whose quoting cannot be followed is kept whole."""
    out = []
    for line in text.splitlines():
        quote, cut, prev = "", None, " "
        i = 0
        while i < len(line):
            c = line[i]
            if c == "\\" and quote != "'":
                i, prev = i + 2, "x"
                continue
            if quote:
                if c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "#" and (prev.isspace() or prev in ";|&("):
                cut = i
                break
            prev = c
            i += 1
        out.append(line[:cut] if cut is not None else line)
    return "\n".join(out)


def check_type(text: str, kind: str) -> bool:
    """ML-Bench's type check: a Bash Script names a ``.sh `` or ``.py `` file, Python code names neither."""
    names_script = ".sh " in text or ".py " in text
    return names_script if kind == "Bash Script" else not names_script


def executed_ok(returncode: int, timed_out: bool, output: str) -> bool:
    """Exit 0, still running at the timeout, or stopped by KeyboardInterrupt (as ML-Bench counts it)."""
    return timed_out or returncode == 0 or "KeyboardInterrupt" in output


def image_for(row: Row) -> str | None:
    """A per-repository Docker image (``MLGYM_MLBENCH_IMAGE_<REPO>``, e.g. one built from the
    repository's requirements) for ``--sandbox docker``: the task's ``environment.image``."""
    var = "MLGYM_MLBENCH_IMAGE_" + re.sub(r"[^A-Za-z0-9]", "_", row.repo).upper()
    return os.environ.get(var) or None


def interpreter_for(row: Row) -> str | None:
    """A per-repository Python (``MLGYM_MLBENCH_PYTHON_<REPO>``, e.g. the python of ML-Bench's conda env
    for it): the task's ``environment.python``, which agent code and the eval then run with."""
    var = "MLGYM_MLBENCH_PYTHON_" + re.sub(r"[^A-Za-z0-9]", "_", row.repo).upper()
    return os.environ.get(var) or None


@dataclasses.dataclass
class Execution:
    returncode: int
    timed_out: bool
    output: str
    seconds: float
    downloads: tuple[str, ...] = ()  # what the run tried to reach while the network was off (hosts, URLs)

    @property
    def ok(self) -> bool:
        return executed_ok(self.returncode, self.timed_out, self.output)


def execute_in_checkout(row: Row, files: dict[str, bytes], argv: list[str], *, seconds: float, sandbox: str = "local",
                        python: str = "python", sandbox_options: dict[str, Any] | None = None, memory_mb: int = 8192,
                        network: bool = False) -> Execution:
    """Write ``files`` (relative to the row's folder) into a fresh checkout and run ``argv`` from
    that folder in a fresh sandbox, killed (with its process tree) after ``seconds``."""
    from mlgym.sandbox.backends import make_sandbox
    from mlgym.core.scratch import scratch_dir

    opts = dict(sandbox_options or {})
    if sandbox.startswith("local"):
        opts.setdefault("python", python)  # the interpreter the sandbox makes visible
    py_dir = str(Path(shutil.which(opts.get("python") or python) or python).absolute().parent) if sandbox.startswith("local") else ""
    with tempfile.TemporaryDirectory(prefix="mlgym-mlbench-", dir=scratch_dir()) as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        checkout(row, ws / row.repo)
        folder = ws / row.workdir
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        guard = ""
        if not network:  # downloads fail at once and are named (netguard/sitecustomize.py); the sandbox stays the wall
            net = ws / NETGUARD
            net.mkdir()
            (net / "sitecustomize.py").write_text(resources.files("mlgym.families.mlbench").joinpath("netguard/sitecustomize.py").read_text())
            (net / "netlog").touch()
            os.chmod(net / "netlog", 0o666)
            guard = (f"export PYTHONPATH=\"$PWD/{NETGUARD}${{PYTHONPATH:+:$PYTHONPATH}}\" MLGYM_NETLOG=\"$PWD/{NETGUARD}/netlog\" "
                     f"HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1; ")
        limits = Limits(timeout=seconds, memory_mb=memory_mb, output_bytes=32 * 1024, network=network)
        mounts: list[Mount] = []
        box = make_sandbox(sandbox, ws, limits=limits, mounts=mounts, **opts)
        path_line = f"export PATH={shlex.quote(py_dir)}:\"$PATH\"; " if py_dir else ""
        cmd = f"{path_line}{guard}cd {shlex.quote(row.workdir)} && " + " ".join(shlex.quote(a) for a in argv)
        start = time.monotonic()
        box.start()
        try:
            res = box.exec(["bash", "-c", cmd], timeout=seconds)
        finally:
            box.stop()
        downloads = _netlog(ws / NETGUARD / "netlog") if not network else ()
    out = res.stdout + ("\n" if res.stdout and res.stderr else "") + res.stderr
    return Execution(res.returncode, bool(res.timed_out), out, round(time.monotonic() - start, 3), downloads)


NETGUARD = ".mlgym-netguard"
_NET_PATTERNS = (  # (the output of a failed offline run, what it names)
    re.compile(r"network disabled for this ML-Bench row: ([\w.-]+)"),
    re.compile(r"Could not resolve host:? '?([\w.-]+)"),  # curl, git
    re.compile(r"unable to resolve host address [\u2018'`]?([\w.-]+)"),  # wget
    re.compile(r"Temporary failure in name resolution"),
    re.compile(r"(?:LocalEntryNotFoundError|OfflineModeIsEnabled|outgoing traffic has been disabled)"),  # Hugging Face hub
    re.compile(r"(?:URLError|MaxRetryError|NewConnectionError)"),
)
_URL = re.compile(r"https?://[^\s'\"<>)]+")


_HINTS = (  # known causes of failures in repository environments, said after the last output line
    ("operator torchvision::nms does not exist",
     " (this torchvision does not match the CPU torch: install both from PyTorch's CPU index, or set MLGYM_MLBENCH_PYTHON_<REPO>)"),
    ("Torch not compiled with CUDA enabled", " (the row needs CUDA; task environments have PyTorch's CPU build)"),
    ("Found no NVIDIA driver", " (the row needs CUDA; task environments have PyTorch's CPU build)"),
)


def _netlog(path: Path) -> tuple[str, ...]:
    """Hosts and URLs the run tried (written by code the agent controls: bounded, one line each)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(64 * 1024).decode(errors="replace")
    except OSError:
        return ()
    seen: dict[str, None] = {}
    for line in raw.splitlines():
        kind, _, what = line.strip().partition(" ")
        if kind in ("url", "host") and what:
            seen.setdefault(re.sub(r"[^\x21-\x7e]", "", what)[:200], None)
    urls = [w for w in seen if "://" in w]
    return tuple(urls[:3] + [w for w in seen if "://" not in w][:3])


def network_need(run: Execution) -> str | None:
    """What an offline run that failed needed from the network (a URL, else a host), or None."""
    out_urls = [u.rstrip(".,:;") for u in _URL.findall(run.output)]
    urls = [d for d in run.downloads if "://" in d]
    if urls:
        return urls[0]
    if run.downloads:
        host = run.downloads[0].rsplit(":", 1)[0]
        return next((u for u in out_urls if host in u), host)[:200]
    for pat in _NET_PATTERNS:
        m = pat.search(run.output)
        if m:
            named = m.group(1) if m.groups() else None
            return (named or (out_urls[-1] if out_urls else "a download (" + m.group(0) + ")"))[:200]
    return None


def oracle_script(row: Row) -> str:
    """``run.sh`` holding the row's reference ``output`` (Python code is fed to ``python -``)."""
    if row.type == "Python Code":
        return f"python - <<'MLGYM_ORACLE'\n{row.output.rstrip()}\nMLGYM_ORACLE\n"
    return row.output.rstrip() + "\n"


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


# ------------------------------------------------------------------ the family
class MLBenchFamily:
    kind = "mlbench"

    # capability (mlgym.tasks.catalog.RowSource)
    def row_task(self, name: str) -> TaskSpec | None:
        spec: TaskSpec | None = row_task(name)
        return spec

    def task_names(self) -> list[str]:
        return task_names()

    def rows_note(self) -> str | None:
        if os.environ.get("MLGYM_MLBENCH"):
            return None
        return (f"rows of a hub dataset, not loaded here; `mlgym tasks --family {self.kind}` lists them "
                f"(offline: set MLGYM_MLBENCH to a JSONL/parquet file of its rows)")

    def expand(self, path: Path, raw: dict[str, Any]) -> list[Any]:
        raise TaskError(f"{path}: ML-Bench tasks are not YAML entries: set MLGYM_MLBENCH (or use the hub) and name "
                        f"them mlbench-<id> (see `mlgym tasks --family mlbench`)")

    def prepare(self, task: Any, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        row = options(task).row

        def produce(raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
            _tree, sha = pristine(row, say)
            about: dict[str, Any] = {"id": row.id, "github": row.github, "commit": sha, "path": row.path,
                                     "instruction": row.instruction, "prefix_code": row.prefix_code}
            if (_tree / MISSING).is_file():  # a mirror without some large files: the episode runs without them
                about["missing_files"] = _tree.joinpath(MISSING).read_text().splitlines()
            (public / "task.json").write_text(json.dumps(about, indent=1))
            (private / "row.json").write_text(json.dumps({**dataclasses.asdict(row), "commit": sha}, indent=1))

        data = build(task, produce, root=root, force=force, verify=verify, progress=progress)
        pristine(row, progress)  # the tree may have been collected since the data was made
        return data

    def build_workspace(self, task: Any, workspace: Path) -> None:
        row = options(task).row
        checkout(row, workspace / row.repo)
        (workspace / row.workdir).mkdir(parents=True, exist_ok=True)

    def mounts(self, task: Any, data: TaskData) -> list[Mount]:
        return []  # the repository is in the workspace; the row's answers never leave the data cache

    def describe(self, task: Any) -> str:
        opts = options(task)
        row = opts.row
        prefix = f"Here is the prefix code for the task:\n```bash\n{row.prefix_code.strip()}\n```\n\n" if row.prefix_code.strip() else ""
        return (
            f"Please complete the Machine Learning task in the following repository: {row.repo}\n\n"
            f"{row.instruction.strip()}\n\n"
            f"You should create a script named `run.sh` under the specified path in the repo to run the task.\n\n"
            f"You can find the task repo at: {row.workdir}/ (write {row.run_sh})\n\n{prefix}"
            f"You should terminate the subprocess after running the task (e.g., call subprocess.Popen(args).wait()). "
            f"When you give the Final Answer, run.sh is run as `bash run.sh` from {row.workdir}/ in a fresh copy of the "
            f"repository, killed after {opts.timeout:g} seconds: it passes if it exits 0, is still running then, or stops "
            f"with KeyboardInterrupt. (Execute Script runs scripts from the workspace root: a run.sh that starts with "
            f"`cd \"$(dirname \"$0\")\"` runs the same both ways.) Without a run.sh, the first fenced code block "
            f"(```bash ... ```) of your Final Answer is taken as run.sh."
        )

    def oracle(self, task: Any) -> tuple[dict[str, str], str]:
        """The reference answer as a submission: files to write (workspace-relative) and the Final Answer."""
        row = options(task).row
        return {row.run_sh: oracle_script(row)}, row.output

    def evaluate(self, task: Any, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        """``run.sh`` in the row's folder is the submission; without one, the first fenced
        code block of the episode's Final Answer is (ML-Bench lets the agent answer with the
        command itself; plain prose is not taken for a command)."""
        from mlgym.core import fs

        opts = options(task)
        row = opts.row
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="mlgym-mlbench-sub-") as tmp:
            dest = Path(tmp) / "run.sh"
            try:
                fs.copy_out(submission.dir, row.run_sh, dest, limit=1 << 20)
                script = dest.read_bytes()
            except FileNotFoundError:
                answer = extract_script(submission.final_answer or "", fenced_only=True)
                if not answer:
                    return EvalResult(error=f"no submission: {row.run_sh} not found in the workspace and no command in the final answer",
                                      metrics={"exec_pass": 0.0, "args_pass": 0.0, "type_pass": 0.0, "all_pass": 0.0})
                script = answer.encode("utf-8", "surrogateescape")[: 1 << 20] + b"\n"
            except (OSError, MLGymError) as e:
                return EvalResult(error=f"invalid submission: {row.run_sh}: {e}")
        text = script.decode(errors="replace")
        missing = check_arguments(text, row.arguments)
        in_comments = [m for m in check_arguments(without_comments(text), row.arguments) if m not in missing]
        type_ok = check_type(text, row.type)
        run = execute_in_checkout(row, {"run.sh": script}, ["bash", "run.sh"], seconds=opts.timeout, sandbox=sandbox,
                                  python=python, sandbox_options=sandbox_options, memory_mb=task.limits.memory_mb,
                                  network=task.limits.network)
        all_pass = run.ok and not missing and type_ok
        full = all_pass and not in_comments  # the reward: ML-Bench's full pass, argument values outside comments
        metrics = {
            "exec_pass": float(run.ok), "args_pass": float(not missing), "type_pass": float(type_ok),
            "all_pass": float(all_pass), "args_code_pass": float(not missing and not in_comments),
            "exit_code": float(run.returncode), "timed_out": float(run.timed_out), "run_seconds": run.seconds,
        }
        notes = []
        if not run.ok:
            need = None if task.limits.network else network_need(run)
            if need:
                notes.append(f"run.sh needs the network: {need} (MLGYM_MLBENCH_NETWORK=1 allows downloads)")
            else:
                hint = next((h for pat, h in _HINTS if pat in run.output), "")
                notes.append(f"run.sh failed (exit {run.returncode}): {last_line(run.output) or 'no output'}{hint}")
        if missing:
            notes.append(f"arguments missing from run.sh: {', '.join(missing)}")
        if in_comments:
            notes.append(f"arguments only in comments of run.sh: {', '.join(in_comments)}")
        if not type_ok:
            notes.append(f"run.sh does not look like {row.type or 'the expected type'}")
        return EvalResult(score=float(full), valid=True, error="; ".join(notes) or None, metrics=metrics,
                          eval_seconds=round(time.monotonic() - start, 3))


def extract_script(text: str, *, fenced_only: bool = False) -> str:
    """The body of the first fenced code block of ``text`` (```lang ... ```), else the whole
    text (``fenced_only``: else ""), stripped.  Linear in the length: the text may come
    from an adversarial agent."""
    start, nl = text.find("```"), -1
    while start >= 0:
        if nl <= start:
            nl = text.find("\n", start + 3)
        if nl < 0:
            break
        if text.find("`", start + 3, nl) < 0:  # a valid opening fence: ```lang
            end = text.find("```", nl + 1)
            if end >= 0:
                return text[nl + 1:end].strip()
            break
        start = text.find("```", start + 3)
    return "" if fenced_only else text.strip()
