"""The grading payload for MLAgentBench's own task folders (runs inside the eval sandbox; never imports mlgym).

Usage: ``python mab_folder_eval.py '<json>'`` in the eval workspace, which holds the agent's
files (those it wrote) and the prepared task at ``answers/`` (``env/``, ``scripts/``).  It
rebuilds what MLAgentBench scores (its snapshot of the work dir): the submission folder is the
prepared ``env/`` less its read-only files, with the agent's files over it (babylm's ``babyLM_for_hf.py`` and ``output/``, CLRS's ``checkpoints/``);
``get_score(submission_folder)`` of ``scripts/eval.py`` runs with cwd ``scripts/`` and
``../env`` beside it, as MLAgentBench runs it.  JSON keys: ``files`` (the agent's files, relative), ``read_only``
(prepared paths left out, as MLAgentBench leaves them out),
``links`` (name -> target relative to ``scripts/``, for evals that read data relative to the cwd),
``kind`` (``file``/``dir``/``folder``: get_score; ``speed``: run ``script`` in the submission
folder and read ``pattern`` from its output), ``timeout``.  Prints ``{"score": ...}`` last.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from typing import Any


def _link(src: str, dst: str) -> None:
    if os.path.lexists(dst):
        if os.path.isdir(dst) and not os.path.islink(dst):
            return
        os.unlink(dst)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(src, dst)


def build(cfg: dict[str, Any]) -> tuple[str, str]:
    here = os.path.abspath(".")
    answers = os.path.join(here, "answers")
    root = os.path.join(here, ".mab")
    sub = os.path.join(root, "sub")
    os.makedirs(sub)
    env_dir = os.path.join(answers, "env")
    read_only = [r.rstrip("/") for r in cfg.get("read_only", [])]  # not in MLAgentBench's snapshot of the work dir
    for dirpath, _dirs, files in os.walk(env_dir):
        rel = os.path.relpath(dirpath, env_dir)
        for f in files:
            path = os.path.normpath(os.path.join(rel, f))
            if any(path == r or path.startswith(r + "/") for r in read_only):
                continue
            _link(os.path.join(dirpath, f), os.path.join(sub, path))
    for f in cfg.get("files", []):
        _link(os.path.join(here, f), os.path.join(sub, f))
    scripts = os.path.join(root, "scripts")
    os.makedirs(scripts)
    src_scripts = os.path.join(answers, "scripts")
    for name in os.listdir(src_scripts):
        _link(os.path.join(src_scripts, name), os.path.join(scripts, name))
    _link(env_dir, os.path.join(root, "env"))
    for name, target in (cfg.get("links") or {}).items():
        _link(os.path.normpath(os.path.join(scripts, target)), os.path.join(scripts, name))
    return sub, scripts


def main() -> None:
    cfg = json.loads(sys.argv[1])
    sub, scripts = build(cfg)
    if cfg.get("kind") == "speed":
        proc = subprocess.run([sys.executable, cfg["script"]], cwd=sub, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=cfg.get("timeout"))
        found = re.findall(cfg["pattern"], proc.stdout)
        if proc.returncode != 0 or not found:
            last = (proc.stdout.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            sys.exit(f"{cfg['script']} printed no timing ({last[:200]})")
        score = float(found[-1])
    else:
        os.chdir(scripts)  # its scripts read answers relative to here (and ../env)
        sys.path.insert(0, scripts)
        spec = importlib.util.spec_from_file_location("mlagentbench_task_eval", os.path.join(scripts, "eval.py"))
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        score = float(mod.get_score(sub))
    if score != score or score in (float("inf"), float("-inf")):
        sys.exit("get_score returned a number that is not finite")
    print(json.dumps({"score": score, "metrics": {}}))


if __name__ == "__main__":
    main()
