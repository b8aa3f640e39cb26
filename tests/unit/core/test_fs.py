"""mlgym.core.fs on both resolution paths (openat2 and the O_NOFOLLOW walk): escapes, symlink
components, FIFOs, hard links, directories, streaming lines, the snapshot walk."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from mlgym.core import fs
from mlgym.core.errors import PathEscapeError

pytestmark = pytest.mark.timeout(60)  # a FIFO opened blocking would hang: fail instead


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "walk":
        monkeypatch.setattr(fs, "_openat2_ok", False)
    elif not fs._have_openat2():
        pytest.skip("this kernel has no openat2")
    return str(request.param)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with a file, a folder, and links out of it and within it; secrets beside it."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("TOPSECRET")
    w = tmp_path / "ws"
    (w / "d").mkdir(parents=True)
    (w / "a.txt").write_text("hello\n")
    (w / "d" / "b.txt").write_text("inner\n")
    os.symlink(out / "secret.txt", w / "abs_link")
    os.symlink("../outside/secret.txt", w / "rel_link")
    os.symlink("a.txt", w / "inner_link")
    os.symlink(out, w / "dir_link")
    os.symlink("d", w / "inner_dir_link")
    os.symlink("/proc/self/environ", w / "environ")
    os.mkfifo(w / "fifo")
    return w


@pytest.mark.parametrize("rel", ["..", "../x", "/etc/passwd", "~/x", "a/../../x", "d/../../outside/secret.txt", "a\x00b"])
def test_escapes_are_refused(resolver: str, ws: Path, rel: str) -> None:
    for call in (lambda: fs.read_bytes(ws, rel), lambda: fs.write_bytes(ws, rel, b"x"), lambda: fs.stat(ws, rel),
                 lambda: fs.listdir(ws, rel), lambda: fs.unlink(ws, rel)):
        with pytest.raises(PathEscapeError):
            call()
    assert (ws.parent / "outside" / "secret.txt").read_text() == "TOPSECRET"


def test_dotdot_inside_is_fine(resolver: str, ws: Path) -> None:
    assert fs.read_bytes(ws, "d/../a.txt") == b"hello\n"
    assert fs.read_bytes(ws, "./d//b.txt") == b"inner\n"
    assert fs.normalize(" d/./x/.. ") == "d"


@pytest.mark.parametrize("rel", ["abs_link", "rel_link", "inner_link", "dir_link/secret.txt", "inner_dir_link/b.txt", "environ"])
def test_any_symlink_component_is_refused(resolver: str, ws: Path, rel: str) -> None:
    with pytest.raises(PathEscapeError, match="symbolic link"):
        fs.read_bytes(ws, rel)
    with pytest.raises(PathEscapeError):
        fs.copy_out(ws, rel, ws.parent / "copied")
    assert not (ws.parent / "copied").exists()


def test_writes_never_go_through_links(resolver: str, ws: Path) -> None:
    secret = ws.parent / "outside" / "secret.txt"
    with pytest.raises(PathEscapeError):
        fs.write_bytes(ws, "dir_link/new.txt", b"x")
    assert not (ws.parent / "outside" / "new.txt").exists()
    fs.write_bytes(ws, "abs_link", b"replaced")  # the link itself is replaced by a file
    assert secret.read_text() == "TOPSECRET"
    assert not (ws / "abs_link").is_symlink() and (ws / "abs_link").read_bytes() == b"replaced"


def test_hard_link_is_not_written_through(resolver: str, ws: Path) -> None:
    victim = ws.parent / "outside" / "victim.txt"
    victim.write_text("ORIGINAL")
    os.link(victim, ws / "hl")
    fs.write_bytes(ws, "hl", b"new")
    assert victim.read_text() == "ORIGINAL" and victim.stat().st_nlink == 1
    assert (ws / "hl").read_bytes() == b"new"


def test_fifo_is_refused_without_blocking(resolver: str, ws: Path) -> None:
    with pytest.raises(fs.NotRegularFile):
        fs.read_bytes(ws, "fifo")
    with pytest.raises(fs.NotRegularFile):
        fs.read_lines(ws, "fifo", 1, 2)
    with pytest.raises(fs.NotRegularFile):
        fs.file_size(ws, "fifo")
    fs.write_bytes(ws, "fifo", b"now a file")  # replaced by rename, never opened for writing
    assert (ws / "fifo").read_bytes() == b"now a file"


def test_directories_and_missing(resolver: str, ws: Path) -> None:
    with pytest.raises(IsADirectoryError):
        fs.read_bytes(ws, "d")
    with pytest.raises(IsADirectoryError):
        fs.write_bytes(ws, "d", b"x")
    with pytest.raises(IsADirectoryError):
        fs.unlink(ws, "d")
    with pytest.raises(NotADirectoryError):
        fs.listdir(ws, "a.txt")
    with pytest.raises(NotADirectoryError):
        fs.read_bytes(ws, "a.txt/x")
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(ws, "nope/x")
    with pytest.raises(FileNotFoundError):
        fs.file_size(ws, "nope")
    assert dict(fs.listdir(ws, "."))["d"] is True
    assert dict(fs.listdir(ws, "."))["inner_dir_link"] is False  # a link is never followed


def test_write_creates_folders_keeps_mode_drops_setuid(resolver: str, ws: Path) -> None:
    fs.write_bytes(ws, "new/deep/f.py", b"print(1)\n")
    assert (ws / "new" / "deep" / "f.py").read_bytes() == b"print(1)\n"
    with pytest.raises(FileNotFoundError):
        fs.write_bytes(ws, "other/f.py", b"x", mkdirs=False)
    os.chmod(ws / "a.txt", 0o4755)
    fs.write_bytes(ws, "a.txt", b"x")
    assert stat.S_IMODE((ws / "a.txt").stat().st_mode) == 0o755
    assert not [p for p in os.listdir(ws) if p.endswith(".tmp")]  # no temp file left behind


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owner_is_set_on_new_files_and_folders(resolver: str, ws: Path) -> None:
    fs.write_bytes(ws, "o/p/f.txt", b"x", owner=(54321, 54322))
    for p in (ws / "o", ws / "o" / "p", ws / "o" / "p" / "f.txt"):
        assert (p.stat().st_uid, p.stat().st_gid) == (54321, 54322)


def test_write_limit_leaves_the_old_file(resolver: str, ws: Path) -> None:
    with pytest.raises(fs.ActionError, match="size limit"):
        fs.write_stream(ws, "a.txt", [b"x" * 10, b"y" * 10], limit=15)
    assert (ws / "a.txt").read_text() == "hello\n"


def test_unlink_removes_the_link_itself(resolver: str, ws: Path) -> None:
    fs.unlink(ws, "abs_link")
    assert not os.path.lexists(ws / "abs_link") and (ws.parent / "outside" / "secret.txt").exists()
    fs.unlink(ws, "abs_link", missing_ok=True)
    with pytest.raises(FileNotFoundError):
        fs.unlink(ws, "abs_link")


def test_stat_is_lstat(resolver: str, ws: Path) -> None:
    assert stat.S_ISLNK(fs.stat(ws, "abs_link").st_mode)
    assert stat.S_ISFIFO(fs.stat(ws, "fifo").st_mode)
    assert fs.file_size(ws, "a.txt") == 6
    with pytest.raises(PathEscapeError):
        fs.file_size(ws, "inner_link")


def test_copy_out_and_its_limit(resolver: str, ws: Path, tmp_path: Path) -> None:
    fs.copy_out(ws, "d/b.txt", tmp_path / "sub" / "out.txt")
    assert (tmp_path / "sub" / "out.txt").read_text() == "inner\n"
    with pytest.raises(fs.ActionError, match="size limit"):
        fs.copy_out(ws, "a.txt", tmp_path / "big.txt", limit=3)
    assert not (tmp_path / "big.txt").exists()


def test_read_lines_streams_and_cuts(resolver: str, ws: Path) -> None:
    long = b"y" * 100_000
    (ws / "s.txt").write_bytes(b"one\r\ntwo\n" + long + b"\nfour")
    got = fs.read_lines(ws, "s.txt", 2, 4, max_line=10)
    assert got.lines == [(b"two", 0), (b"y" * 10, 100_000 - 10), (b"four", 0)] and got.total == 4 and got.complete
    assert fs.read_lines(ws, "s.txt", 1, 1).lines == [(b"one\r", 0)]
    assert fs.read_lines(ws, "a.txt", 1, 9).total == 1
    (ws / "many.txt").write_bytes(b"".join(b"%d\n" % i for i in range(1, 200_001)))
    got = fs.read_lines(ws, "many.txt", 150_000, 150_001)
    assert got.lines == [(b"150000", 0), (b"150001", 0)] and got.total == 200_000
    part = fs.read_lines(ws, "many.txt", 1, 1, max_scan=fs.CHUNK)
    assert not part.complete and part.total < 200_000


def test_openat2_enosys_falls_back_and_is_remembered(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def enosys(*args: object, **kw: object) -> int:
        calls.append(args)
        raise OSError(errno.ENOSYS, "not implemented")

    monkeypatch.setattr(fs, "_openat2_ok", True)
    monkeypatch.setattr(fs, "_openat2", enosys)
    assert fs.read_bytes(ws, "d/b.txt") == b"inner\n"  # the walk did it
    with pytest.raises(PathEscapeError):
        fs.read_bytes(ws, "dir_link/secret.txt")
    assert len(calls) == 1 and fs._openat2_ok is False


def test_walk_opens_no_fifo_and_follows_no_link(resolver: str, ws: Path) -> None:
    (ws / "x" / "y").mkdir(parents=True)
    (ws / "x" / "y" / "deep.txt").write_text("d")
    errors: list[tuple[str, str]] = []
    found = {e.path: e.st for e in fs.walk(ws, exclude_top=("d",), max_depth=1, on_error=lambda p, w: errors.append((p, w)))}
    assert stat.S_ISFIFO(found["fifo"].st_mode) and stat.S_ISLNK(found["dir_link"].st_mode)
    assert "a.txt" in found and "d/b.txt" not in found and not any(p.startswith("dir_link/") for p in found)
    assert "x/y/deep.txt" not in found and errors == [("x/y", "deeper than 1 folders")]
    assert len(list(fs.walk(ws, max_entries=3, on_error=lambda p, w: errors.append((p, w))))) <= 3


def test_escape_makes_names_printable() -> None:
    raw = os.fsdecode(b"ok\xff\x1b[2Jname")
    assert fs.escape(raw) == "ok\\xff\\x1b[2Jname" and fs.escape("plain.txt") == "plain.txt"
