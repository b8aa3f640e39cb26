"""The lock (requirements.lock) is what a fresh install gets and what the suite runs against.

A clean clone once failed its own tests because nothing pinned versions (issue 9): these tests
fail when install.sh stops installing through the lock, when setup.cfg asks for something the
lock does not pin, or when the venv running the suite drifts from the lock.  Refresh the lock
with scripts/lock.sh.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
INSTALLED_EXTRAS = {"dev", "torch", "rl"}  # what ./install.sh --test installs
BOOTSTRAP = {"pip", "setuptools"}  # locked too: install.sh upgrades them first and builds with them


def lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version and " " not in version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def wanted(extras: set[str]) -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in extras:
        lines += cfg["options.extras_require"][extra].splitlines()
    return [Requirement(x) for x in lines if x.strip()]


def closure(reqs: list[Requirement]) -> set[str]:
    """Every distribution the requirements pull in, as installed in this venv."""
    todo = list(reqs)
    seen: set[tuple[str, str]] = set()  # (distribution, extra or ""): a later extra adds more
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = {e for e in req.extras | {""} if (name, e) not in seen}
        seen |= {(name, e) for e in extras}
        if not extras:
            continue
        for line in metadata.requires(req.name) or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return {name for name, _ in seen}


def run_install(tmp_path: Path, *args: str) -> list[list[str]]:
    """Runs the real install.sh against a stand-in venv python that records its arguments."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    log = tmp_path / "calls"
    fake = venv_bin / "python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\037" "$@" >> {log}\nprintf "\\n" >> {log}\n')
    fake.chmod(0o755)
    (tmp_path / "bwrap").write_text("#!/bin/sh\n")  # so install.sh never reaches for apt-get
    (tmp_path / "bwrap").chmod(0o755)
    env = dict(os.environ, VENV=str(tmp_path / "venv"), PATH=f"{tmp_path}:{os.environ['PATH']}")
    subprocess.run([str(ROOT / "install.sh"), *args], check=True, env=env, capture_output=True, timeout=60)
    return [line.split("\x1f")[:-1] for line in log.read_text().splitlines()]


def test_help_names_the_lock():
    out = subprocess.run([str(ROOT / "install.sh"), "--help"], capture_output=True, text=True, check=True).stdout
    assert "requirements.lock" in out and "--no-lock" in out


def test_every_pip_call_is_constrained_by_the_lock(tmp_path):
    calls = run_install(tmp_path, "--torch")
    assert [c[:3] for c in calls] == [["-m", "pip", "install"]] * len(calls) and len(calls) >= 3
    for call in calls:
        assert call[call.index("-c") + 1] == "requirements.lock", call
    assert any("torch==2.13.0" in c for c in calls) and any(".[dev]" in c for c in calls)


def test_rl_installs_the_rl_extra(tmp_path):
    """--rl (and --test, which sets the same flags before its system services) add the rl extra and torch."""
    calls = run_install(tmp_path, "--rl")
    assert any(".[dev,rl]" in c for c in calls) and any("torch==2.13.0" in c for c in calls), calls
    assert "--test) TEST=1; TORCH=1; RL=1 ;;" in (ROOT / "install.sh").read_text()


def test_no_lock_resolves_from_setup_cfg(tmp_path):
    assert all("-c" not in c for c in run_install(tmp_path, "--no-lock"))


def test_every_requirement_is_pinned_within_its_range():
    pins = lock()
    for req in wanted(INSTALLED_EXTRAS):
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not in requirements.lock (run scripts/lock.sh)"
        assert req.specifier.contains(version, prereleases=True), f"lock has {req.name}=={version}, setup.cfg wants {req}"


def test_lock_is_exactly_what_install_sh_installs():
    """Transitive dependencies included; nothing stale left in the lock."""
    assert set(lock()) == closure(wanted(INSTALLED_EXTRAS)) | BOOTSTRAP


def test_this_venv_matches_the_lock():
    drift = {}
    for name, version in lock().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != version:
            drift[name] = f"{have} (lock: {version})"
    assert not drift, f"venv differs from requirements.lock: {drift}; run ./install.sh --test"
