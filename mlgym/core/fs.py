"""Race-free host-side access to an agent-controlled directory.

Agent code runs while the harness reads and writes its workspace, and may swap any name
for a symlink, a FIFO or a hard link between our check and our open.  So nothing here
checks a path and then opens it by name again: every path is relative to a directory fd
and resolved without following any symlink, with ``openat2(RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`` where the kernel has it
(Linux >= 5.6) and a component walk with ``O_NOFOLLOW`` dir fds otherwise.  Every open is
``O_NONBLOCK`` (a FIFO never hangs the harness) and is checked with ``fstat`` afterwards:
only regular files are read.  Writes never go into an existing inode: a temp file created
``O_EXCL`` in the parent dir fd is renamed over the name, so neither a hard link nor a
swapped-in symlink is ever written through.

Errors: :class:`PathEscapeError` (absolute, ``..`` climbing out, any symlink component,
a mount crossing), ``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``,
:class:`NotRegularFile`.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import stat as st_
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple

from mlgym.core.errors import ActionError, PathEscapeError

__all__ = [
    "CopyBudget", "NotRegularFile", "WalkEntry", "copy_out", "escape", "file_size", "iter_chunks", "link_error", "listdir", "normalize",
    "open_file",
    "owner_of", "read_bytes", "read_lines", "stat", "unlink", "walk", "write_bytes", "write_stream",
]

CHUNK = 1 << 16
_O_BASE = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_SYS_OPENAT2 = 437  # the same number on every Linux architecture (unified syscall table)
_RESOLVE_NO_XDEV, _RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x01, 0x02, 0x04, 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS | _RESOLVE_NO_XDEV


class NotRegularFile(ActionError):
    """The name is a FIFO, device or socket: the harness never opens those (they block or act)."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_openat2_ok: bool | None = None  # None: not probed yet; tests set False to force the walk


def _openat2(dirfd: int, path: str, flags: int, mode: int = 0) -> int:
    how = _OpenHow(flags, mode, _RESOLVE)
    raw = os.fsencode(path)
    while True:
        fd = _syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(raw),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err != errno.EINTR:
            raise OSError(err, os.strerror(err), path)


def _have_openat2() -> bool:
    """Probe once: old kernels say ENOSYS, seccomp filters (docker) EPERM or ENOSYS."""
    global _openat2_ok
    if _openat2_ok is None:
        try:
            os.close(_openat2(-100, ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))  # AT_FDCWD
            _openat2_ok = True
        except OSError:
            _openat2_ok = False
    return _openat2_ok


def escape(text: str) -> str:
    """Agent-chosen names and link targets made printable: odd bytes and control characters escaped."""
    if text.isprintable():  # the common case; surrogates (undecodable bytes) are not printable
        return text
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def normalize(rel: str) -> str:
    """``rel`` as a clean workspace-relative path ("." for the root), or PathEscapeError.

    ``..`` is applied lexically: with symlinks never followed that is exactly what the
    kernel would resolve, and a path that climbs out is refused before any syscall.
    """
    if not isinstance(rel, str):
        raise PathEscapeError(f"path must be a string, got {type(rel).__name__}")
    if "\x00" in rel:
        raise PathEscapeError("path contains a NUL byte")
    rel = rel.strip() or "."
    if os.path.isabs(rel) or rel.startswith("~"):
        raise PathEscapeError(f"{rel!r} is absolute; give a path relative to the workspace")
    parts: list[str] = []
    for p in rel.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise PathEscapeError(f"{rel!r} is outside the workspace")
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts) or "."


def _parts(rel: str) -> list[str]:
    norm = normalize(rel)
    return [] if norm == "." else norm.split("/")


def link_error(rel: str) -> PathEscapeError:
    return PathEscapeError(f"{rel!r} is or passes through a symbolic link; file tools do not follow links "
                           "(they could lead outside the workspace)")


def _root_fd(root: Path) -> int:
    return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _walk_dir(root_fd: int, parts: list[str], rel: str, *, create: bool = False,
              owner: tuple[int, int] | None = None) -> int:
    """Open the directory ``parts`` below ``root_fd`` one component at a time with
    O_NOFOLLOW (creating missing ones when ``create``); same filesystem as the root only."""
    dev = os.fstat(root_fd).st_dev
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(errno.ENOENT, f"{rel!r} does not exist") from None
                nxt = _mkdir(fd, part, owner)
            except NotADirectoryError:
                if _lstat_is(fd, part, st_.S_ISLNK):
                    raise link_error(rel) from None
                raise NotADirectoryError(errno.ENOTDIR, f"{rel!r}: {part!r} is not a directory") from None
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise link_error(rel) from None
                raise
            os.close(fd)
            fd = nxt
            if os.fstat(fd).st_dev != dev:
                raise PathEscapeError(f"{rel!r} crosses a mount point")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _mkdir(dir_fd: int, name: str, owner: tuple[int, int] | None) -> int:
    """mkdirat + open without following; the new directory is chowned through its fd."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _O_BASE, dir_fd=dir_fd)
    if owner is not None:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != owner:
            os.fchown(fd, *owner)
    return fd


def _open_at(root_fd: int, parts: list[str], flags: int, rel: str) -> int:
    """Open ``parts`` below ``root_fd``: openat2 when the kernel has it, else a walk."""
    flags |= _O_BASE
    if flags & os.O_PATH:  # openat2 refuses O_PATH with any flag it ignores
        flags &= os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    if _have_openat2():
        try:
            return _openat2(root_fd, "/".join(parts) or ".", flags)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.EXDEV):
                raise link_error(rel) if e.errno == errno.ELOOP else PathEscapeError(f"{rel!r} crosses a mount point") from None
            if e.errno == errno.ENOENT:
                raise FileNotFoundError(errno.ENOENT, f"{rel!r} does not exist") from None
            if e.errno == errno.ENOSYS:
                global _openat2_ok
                _openat2_ok = False
            elif e.errno != errno.ENOTDIR:  # the walk below words which part is not a directory
                raise
    if not parts:
        return os.open(".", flags & ~os.O_NOFOLLOW, dir_fd=root_fd)
    dfd = _walk_dir(root_fd, parts[:-1], rel)
    try:
        return os.open(parts[-1], flags, dir_fd=dfd)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{rel!r} does not exist") from None
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.ENOTDIR and flags & os.O_DIRECTORY and _lstat_is(dfd, parts[-1], st_.S_ISLNK)):
            raise link_error(rel) from None
        raise
    finally:
        os.close(dfd)


def _lstat_is(dir_fd: int, name: str, kind: Callable[[int], bool]) -> bool:
    """Whether ``name`` in ``dir_fd`` is (now) of ``kind``; only used to word an error."""
    try:
        return kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open(root: Path, rel: str, flags: int) -> int:
    parts = _parts(rel)
    rfd = _root_fd(root)
    try:
        return _open_at(rfd, parts, flags, rel)
    finally:
        os.close(rfd)


@contextlib.contextmanager
def _parent(root: Path, rel: str, *, create: bool = False, owner: tuple[int, int] | None = None) -> Iterator[tuple[int, str]]:
    """(fd of the parent directory, last name) of a non-root ``rel``."""
    parts = _parts(rel)
    if not parts:
        raise IsADirectoryError(errno.EISDIR, f"{rel!r} is the workspace folder")
    rfd = _root_fd(root)
    try:
        try:
            pfd = _open_at(rfd, parts[:-1], os.O_PATH | os.O_DIRECTORY, rel)
        except FileNotFoundError:
            if not create:
                raise
            pfd = _walk_dir(rfd, parts[:-1], rel, create=True, owner=owner)
    finally:
        os.close(rfd)
    try:
        yield pfd, parts[-1]
    finally:
        os.close(pfd)


def _check_regular(fd: int, rel: str) -> os.stat_result:
    st = os.fstat(fd)
    if st_.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{rel!r} is a directory")
    if not st_.S_ISREG(st.st_mode):
        raise NotRegularFile(f"{rel!r} is not a regular file")
    return st


def open_file(root: Path, rel: str) -> BinaryIO:
    """A regular file below ``root`` opened for reading (use as a context manager)."""
    fd = _open(root, rel, os.O_RDONLY)
    try:
        _check_regular(fd, rel)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(root: Path, rel: str, *, limit: int | None = None) -> bytes:
    """The file's contents, at most ``limit`` bytes of it."""
    with open_file(root, rel) as f:
        return f.read(-1 if limit is None else limit)


def file_size(root: Path, rel: str) -> int:
    """Size of the regular file ``rel`` (a link, FIFO or directory raises as opening it would)."""
    s = stat(root, rel)
    if st_.S_ISLNK(s.st_mode):
        raise link_error(rel)
    if st_.S_ISDIR(s.st_mode):
        raise IsADirectoryError(errno.EISDIR, f"{rel!r} is a directory")
    if not st_.S_ISREG(s.st_mode):
        raise NotRegularFile(f"{rel!r} is not a regular file")
    return s.st_size


def stat(root: Path, rel: str) -> os.stat_result:
    """lstat of ``rel``: a final symlink is described, not followed; symlinks before it refused."""
    if not _parts(rel):
        return os.stat(root)
    with _parent(root, rel) as (pfd, name):
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"{rel!r} does not exist") from None


def listdir(root: Path, rel: str = ".", *, limit: int | None = None) -> list[tuple[str, bool]]:
    """(name, is a real directory) of the entries of directory ``rel``, at most ``limit``.
    Symlinks are listed as plain names, never followed."""
    fd = _open(root, rel, os.O_RDONLY | os.O_DIRECTORY)
    out: list[tuple[str, bool]] = []
    try:
        with os.scandir(fd) as it:
            for e in it:
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                out.append((e.name, is_dir))
                if limit is not None and len(out) >= limit:
                    break
    finally:
        os.close(fd)
    return out


def unlink(root: Path, rel: str, *, missing_ok: bool = False) -> None:
    """Remove the name ``rel`` (a link is removed itself; directories are refused)."""
    with contextlib.ExitStack() as stack:
        try:
            pfd, name = stack.enter_context(_parent(root, rel))
        except FileNotFoundError:
            if missing_ok:
                return
            raise
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            if not missing_ok:
                raise FileNotFoundError(errno.ENOENT, f"{rel!r} does not exist") from None
        except (IsADirectoryError, PermissionError):
            if _lstat_is(pfd, name, st_.S_ISDIR):
                raise IsADirectoryError(errno.EISDIR, f"{rel!r} is a directory") from None
            raise


def owner_of(sandbox: object) -> tuple[int, int] | None:
    """The (uid, gid) new workspace files must get so the sandbox's agent uid can edit them:
    its ``uid``/``gid`` when we are root and it runs agent code as another uid; else None."""
    uid = getattr(sandbox, "uid", None)
    if uid is None or os.geteuid() != 0:
        return None
    gid = getattr(sandbox, "gid", None)
    return int(uid), int(uid if gid is None else gid)


def write_bytes(root: Path, rel: str, data: bytes, *, owner: tuple[int, int] | None = None, mkdirs: bool = True) -> None:
    """Replace ``rel`` with ``data`` (see :func:`write_stream`)."""
    write_stream(root, rel, [data], owner=owner, mkdirs=mkdirs)


def write_stream(root: Path, rel: str, chunks: Iterable[bytes], *, owner: tuple[int, int] | None = None,
                 mkdirs: bool = True, limit: int | None = None) -> int:
    """Write ``chunks`` to a fresh temp file in the parent dir fd and rename it over ``rel``.

    Never writes into an existing inode, so a hard link or a symlink swapped in under the
    name is replaced, not written through.  An existing regular file's permission bits
    are kept (setuid/setgid dropped).  New directories and the file get ``owner``.
    More than ``limit`` bytes raise ActionError and leave ``rel`` as it was.
    Returns the number of bytes written.
    """
    with _parent(root, rel, create=mkdirs, owner=owner) as (pfd, name):
        mode = 0o644
        try:
            old: os.stat_result | None = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except OSError:
            old = None
        if old is not None and st_.S_ISDIR(old.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{rel!r} is a directory")
        if old is not None and st_.S_ISREG(old.st_mode):
            mode = old.st_mode & 0o777
        tmp = f".mlgym-{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BASE, 0o600, dir_fd=pfd)
        written = 0
        try:
            with os.fdopen(fd, "wb", closefd=False) as out:
                for chunk in chunks:
                    written += len(chunk)
                    if limit is not None and written > limit:
                        raise ActionError(f"{rel!r} would be over the file size limit of {limit} bytes; nothing was written")
                    out.write(chunk)
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
            os.close(fd)
            fd = -1
            try:
                os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
            except OSError as e:
                if e.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
                    raise IsADirectoryError(errno.EISDIR, f"{rel!r} is a directory") from None
                raise
            tmp = ""
        finally:
            if fd >= 0:
                os.close(fd)
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=pfd)
    return written


def iter_chunks(f: BinaryIO, limit: int | None = None, size: int = CHUNK) -> Iterator[bytes]:
    """Blocks of an open file, at most ``limit`` bytes in all."""
    left = limit
    while left is None or left > 0:
        block = f.read(size if left is None else min(size, left))
        if not block:
            return
        if left is not None:
            left -= len(block)
        yield block


class CopyBudget:
    """Totals a set of copies may bring (a submission into scoring): files, apparent size
    (``st_size``) and allocated bytes (blocks the copies really use).  :func:`copy_out` charges
    it; going over any total raises ActionError and leaves nothing of that file behind."""

    def __init__(self, *, files: int, apparent: int, allocated: int) -> None:
        self.files, self.apparent, self.allocated = files, apparent, allocated

    def take(self, rel: str, *, files: int = 0, apparent: int = 0, allocated: int = 0) -> None:
        for name, want, left in (("files", files, self.files), ("apparent size", apparent, self.apparent),
                                 ("allocated size", allocated, self.allocated)):
            if want > left:
                raise ActionError(f"{rel!r}: the submission is over its total {name} cap")
        self.files -= files
        self.apparent -= apparent
        self.allocated -= allocated


def _extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """The data extents of ``fd`` up to ``size`` (SEEK_DATA/SEEK_HOLE; the whole file where the
    file system cannot say)."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # only a hole is left
                return
            yield pos, size
            return
        if start >= size:
            return
        try:
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        except OSError:
            end = size
        yield start, end
        pos = end


def copy_out(root: Path, rel: str, dest: Path, *, limit: int | None = None, budget: CopyBudget | None = None) -> None:
    """Copy the agent's regular file ``rel`` to ``dest``, a host path the harness controls.

    Streams, and keeps holes holes (only data extents are read; an all-zero block is not
    written), so a sparse file costs the host what it costs the agent.  A file over ``limit``
    bytes, or one that takes ``budget`` past a total, raises ActionError and nothing is left
    at ``dest``.  The copy never grows past the size the file had when it was opened.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
    with open_file(root, rel) as src:
        fd = src.fileno()
        info = os.fstat(fd)
        size = info.st_size
        if limit is not None and size > limit:
            raise ActionError(f"{rel!r} is over the size limit of {limit} bytes")
        if budget is not None:  # refused before a byte is written when the totals say so
            budget.take(rel, files=1, apparent=size)
            if info.st_blocks * 512 > budget.allocated:
                raise ActionError(f"{rel!r}: the submission is over its total allocated size cap")
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                for start, end in _extents(fd, size):
                    off = start
                    while off < end:
                        block = os.pread(fd, min(CHUNK, end - off), off)
                        if not block:
                            break
                        if block.count(0) != len(block):  # all zero: stays a hole
                            if budget is not None:
                                budget.take(rel, allocated=len(block))
                            os.pwrite(out, block, off)
                        off += len(block)
                os.ftruncate(out, size)
            finally:
                os.close(out)
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


class Lines(NamedTuple):
    """What :func:`read_lines` found: the lines asked for (each cut to ``max_line`` bytes,
    with how many bytes were cut), the file's line count, and whether the scan saw it all."""

    lines: list[tuple[bytes, int]]
    total: int
    complete: bool


def read_lines(root: Path, rel: str, start: int, end: int, *, max_line: int = 4096, max_scan: int = 1 << 30) -> Lines:
    """Lines ``start``..``end`` (1-based, inclusive) of ``rel``, streamed in blocks.

    Memory stays about one block plus the lines kept, however big the file or its lines;
    blocks outside the range are only counted.  Scans at most ``max_scan`` bytes.
    """
    kept: list[tuple[bytes, int]] = []
    cur, cut = bytearray(), 0
    lineno, partial, scanned, complete = 1, False, 0, True
    with open_file(root, rel) as f:
        while True:
            if scanned >= max_scan:
                complete = False
                break
            block = f.read(CHUNK)
            if not block:
                break
            scanned += len(block)
            partial = not block.endswith(b"\n")
            n = block.count(b"\n")
            if lineno > end or lineno + n < start:
                lineno += n
                continue
            pos = 0
            while pos < len(block):
                nl = block.find(b"\n", pos)
                stop = len(block) if nl < 0 else nl
                if start <= lineno <= end:
                    room = max(0, max_line - len(cur))
                    cur += block[pos:min(stop, pos + room)]
                    cut += max(0, stop - pos - room)
                if nl < 0:
                    break
                if start <= lineno <= end:
                    kept.append((bytes(cur), cut))
                    cur, cut = bytearray(), 0
                lineno += 1
                pos = nl + 1
    if partial and start <= lineno <= end:
        kept.append((bytes(cur), cut))
    return Lines(kept, lineno if partial else lineno - 1, complete)


class WalkEntry(NamedTuple):
    """One non-directory entry met by :func:`walk`; ``dir_fd`` is valid only until the next."""

    path: str  # relative to the root, "/"-separated
    name: str
    dir_fd: int
    st: os.stat_result  # lstat


def walk(root: Path, *, exclude_top: Iterable[str] = (), max_depth: int = 32, max_entries: int = 200_000,
         on_error: Callable[[str, str], None] | None = None) -> Iterator[WalkEntry]:
    """Every non-directory entry below ``root`` (regular files, symlinks, FIFOs ... as lstat
    says; nothing is opened but directories, each by O_NOFOLLOW relative to its parent fd).

    Deeper than ``max_depth`` or past ``max_entries`` the walk stops there and
    ``on_error(path, why)`` is told; so is every entry that vanished or changed type.
    """
    report = on_error or (lambda path, why: None)
    excluded = set(exclude_top)
    count = 0
    rfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    dev = os.fstat(rfd).st_dev

    def visit(fd: int, prefix: str, depth: int) -> Iterator[WalkEntry]:
        nonlocal count
        with os.scandir(fd) as it:
            for e in it:
                if not prefix and e.name in excluded:
                    continue
                count += 1
                if count > max_entries:
                    report(prefix or ".", f"more than {max_entries} entries")
                    return
                path = prefix + e.name
                try:
                    s = e.stat(follow_symlinks=False)
                except OSError as err:
                    report(path, err.strerror or "stat failed")
                    continue
                if not st_.S_ISDIR(s.st_mode):
                    yield WalkEntry(path, e.name, fd, s)
                    continue
                if depth >= max_depth:
                    report(path, f"deeper than {max_depth} folders")
                    continue
                try:
                    sub = os.open(e.name, os.O_RDONLY | os.O_DIRECTORY | _O_BASE, dir_fd=fd)
                except OSError as err:
                    report(path, err.strerror or "open failed")
                    continue
                try:
                    if os.fstat(sub).st_dev != dev:
                        report(path, "a mount point")
                        continue
                    yield from visit(sub, path + "/", depth + 1)
                finally:
                    os.close(sub)

    try:
        yield from visit(rfd, "", 0)
    finally:
        os.close(rfd)
