"""File tools (MLAgentBench names and arguments).  All paths stay inside the workspace.

Agent code may still be running while a tool works, swapping any name for a symlink, a
FIFO or a hard link, so every access goes through :mod:`mlgym.core.fs` (relative to a dir fd,
never following a link, regular files only, writes by rename).  Reads are bounded: Read
File reads a prefix, Inspect Script Lines streams, Copy/Append stream and stop at the
sandbox's file size limit, and the undo history keeps at most :data:`UNDO_VERSIONS`
versions per file and :data:`UNDO_TOTAL_BYTES` in all.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from typing import BinaryIO, Iterable, Iterator

from mlgym.core import fs
from mlgym.core.errors import ActionError, PathEscapeError
from mlgym.env.tools.base import ToolContext, tool

MAX_INSPECT_LINES = 100
MAX_LINE_BYTES = 2000  # one line as Inspect Script Lines shows it; the rest is cut with a note
LIST_LIMIT = 100_000  # entries List Files reads from one directory
UNDO_VERSIONS = 10  # per file; the oldest are dropped
UNDO_FILE_BYTES = 16 * 2**20  # a bigger old version is not kept (Undo says so)
UNDO_TOTAL_BYTES = 64 * 2**20  # all kept versions together
EDIT_READ_BYTES = 16 * 2**20  # the most the LLM edit tools read of a script
MiB = 2**20


def clip(text: str, limit: int) -> str:
    """Keep head and tail of ``text`` with a note of how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters cut; use Inspect Script Lines to see a part ...]\n{text[-half:]}"


@contextlib.contextmanager
def file_errors(rel: str) -> Iterator[None]:
    """What :mod:`mlgym.core.fs` raises, as the error observations the agent reads."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError):
        raise ActionError(f"file {rel!r} does not exist; use List Files to see what is there") from None
    except IsADirectoryError:
        raise ActionError(f"{rel!r} is a directory; use List Files") from None


def file_limit(ctx: ToolContext) -> int:
    """The largest file a tool writes: the sandbox's file size limit (2 GiB by default)."""
    return int(getattr(getattr(ctx.sandbox, "limits", None), "file_size_mb", 2048)) * MiB


def _writable(ctx: ToolContext, rel: str) -> str:
    """The normalized name ``rel`` a tool may write: not a directory, a link, a FIFO or read-only."""
    key = fs.normalize(rel)
    if key == ".":
        raise ActionError(f"{rel!r} is the workspace folder, not a file")
    for ro in ctx.read_only:
        ro_key = fs.normalize(ro)
        if key == ro_key or key.startswith(ro_key + "/"):
            raise PathEscapeError(f"{rel!r} is in the read-only folder {ro}/")
    try:
        st = fs.stat(ctx.workspace, key)
    except FileNotFoundError:
        return key  # a new file (missing folders are created)
    except NotADirectoryError:
        raise ActionError(f"{rel!r}: a folder on its path is a file") from None
    if stat.S_ISLNK(st.st_mode):
        raise fs.link_error(rel)
    if stat.S_ISDIR(st.st_mode):
        raise ActionError(f"{rel!r} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ActionError(f"{rel!r} is not a regular file")
    return key


def existing_file(ctx: ToolContext, rel: str) -> str:
    """The normalized name of the workspace file ``rel``, or an ActionError saying what is wrong."""
    key = fs.normalize(rel)
    with file_errors(rel):
        fs.file_size(ctx.workspace, key)
    return key


def read_some(ctx: ToolContext, rel: str, limit: int, *, tail: bool = False, missing_ok: bool = False) -> tuple[bytes, int]:
    """At most ``limit`` bytes of ``rel`` (its start, or its end with ``tail``) and its size.

    A missing file is ``(b"", 0)`` with ``missing_ok``; never follows a link or opens a FIFO.
    """
    key = fs.normalize(rel)
    try:
        f = fs.open_file(ctx.workspace, key)
    except FileNotFoundError:
        if missing_ok:
            return b"", 0
        raise ActionError(f"file {rel!r} does not exist; use List Files to see what is there") from None
    with file_errors(rel), f:
        size = os.fstat(f.fileno()).st_size
        if tail and size > limit:
            f.seek(size - limit)
        return f.read(limit), size


def _remember(ctx: ToolContext, key: str) -> None:
    """Keep the previous version of a file so Undo Edit Script can restore it (bounded)."""
    entry: bytes | None | int = None
    try:
        f = fs.open_file(ctx.workspace, key)
    except FileNotFoundError:
        pass
    else:
        with file_errors(key), f:
            data = f.read(UNDO_FILE_BYTES + 1)
            entry = data if len(data) <= UNDO_FILE_BYTES else os.fstat(f.fileno()).st_size
    versions = ctx.history.setdefault(key, [])
    versions.append(entry)
    del versions[:-UNDO_VERSIONS]
    _trim_history(ctx.history)


def _trim_history(history: dict[str, list[bytes | None | int]]) -> None:
    """Drop the oldest kept versions of the files with most history until under the total cap."""
    sizes = {k: sum(len(v) for v in vs if isinstance(v, bytes)) for k, vs in history.items()}
    total = sum(sizes.values())
    while total > UNDO_TOTAL_BYTES:
        key = max(sizes, key=lambda k: sizes[k])
        versions = history[key]
        for i, v in enumerate(versions):
            if isinstance(v, bytes):
                versions[i] = len(v)  # still counted as an edit, its content is gone
                sizes[key] -= len(v)
                total -= len(v)
                break


def _write_chunks(ctx: ToolContext, rel: str, key: str, chunks: Iterable[bytes]) -> None:
    """Stream ``chunks`` into the workspace file ``key`` (kept for undo first)."""
    _remember(ctx, key)
    with file_errors(rel):
        fs.write_stream(ctx.workspace, key, chunks, owner=fs.owner_of(ctx.sandbox), limit=file_limit(ctx))


def _write(ctx: ToolContext, rel: str, data: bytes) -> str:
    key = _writable(ctx, rel)
    _remember(ctx, key)
    with file_errors(rel):
        ctx.sandbox.write_file(key, data)
    return key


def write_text(ctx: ToolContext, rel: str, text: str) -> str:
    """Write ``text`` to ``rel`` as the file tools do: checked path, kept for Undo Edit Script."""
    return _write(ctx, rel, text.encode())


def append_bytes(ctx: ToolContext, rel: str, data: bytes, *, remember: bool = True) -> None:
    """Append ``data`` to ``rel`` by streaming the old contents and ``data`` into a new file."""
    key = _writable(ctx, rel)
    old: BinaryIO | None = None
    with contextlib.ExitStack() as stack:
        try:
            old = stack.enter_context(fs.open_file(ctx.workspace, key))
        except FileNotFoundError:
            pass
        chunks: Iterable[bytes] = [data] if old is None else itertools.chain(fs.iter_chunks(old), [data])
        if remember:
            _write_chunks(ctx, rel, key, chunks)
        else:
            with file_errors(rel):
                fs.write_stream(ctx.workspace, key, chunks, owner=fs.owner_of(ctx.sandbox), limit=file_limit(ctx))


@tool("List Files")
def list_files(ctx: ToolContext, dir_path: str = ".") -> str:
    """Use this to navigate the file system.

    Args:
        dir_path: a valid relative path to a directory, such as "." or "folder1/folder2"

    Returns:
        The observation will be a list of files and folders in dir_path or current directory is dir_path is empty, or an error message if dir_path is invalid.
    """
    try:
        found = fs.listdir(ctx.workspace, fs.normalize(dir_path), limit=LIST_LIMIT)
    except (FileNotFoundError, NotADirectoryError):
        raise ActionError(f"{dir_path!r} is not a directory") from None
    entries = sorted(fs.escape(name) + ("/" if is_dir else "") for name, is_dir in found)
    if len(found) >= LIST_LIMIT:
        entries.append(f"[... only the first {LIST_LIMIT} entries were read ...]")
    return clip("\n".join(entries), ctx.observation_chars) if entries else "(empty directory)"


@tool("Read File")
def read_file(ctx: ToolContext, file_name: str) -> str:
    """Use this to read an existing file.

    Args:
        file_name: a valid file name with relative path to current directory if needed

    Returns:
        The observation will be the contents of the file read.
    """
    data, size = read_some(ctx, file_name, ctx.observation_chars * 4 + 1)
    text = data.decode("utf-8", "replace")
    if size > len(data):
        text += f"\n[... file is {size} bytes; only the start is shown ...]"
    return clip(text, ctx.observation_chars)


@tool("Write File")
def write_file(ctx: ToolContext, file_name: str, content: str) -> str:
    """Use this to write a file. If the file already exists, it will be overwritten.

    Args:
        file_name: a valid file name with relative path to current directory if needed
        content: the content to be written to the file

    Returns:
        A success message if the file is written successfully, or an error message if the file cannot be written.
    """
    _write(ctx, file_name, content.encode())
    return f"File {file_name} written successfully ({len(content)} characters)."


@tool("Append File")
def append_file(ctx: ToolContext, file_name: str, content: str) -> str:
    """Use this to append a file to a new location with a new name.

    Args:
        file_name: a valid file name with relative path to current directory if needed
        content: the content to be appended to the file

    Returns:
        A success message if the file is appended successfully, or an error message if the file cannot be appended.
    """
    append_bytes(ctx, file_name, content.encode())
    return f"File {file_name} appended successfully ({len(content)} characters)."


@tool("Copy File")
def copy_file(ctx: ToolContext, source: str, destination: str) -> str:
    """Use this to copy a file to a new location with a new name.

    Args:
        source: a valid file name with relative path to current directory if needed
        destination: a valid file name with relative path to current directory if needed

    Returns:
        A success message if the file is copied successfully, or an error message if the file cannot be copied.
    """
    key = _writable(ctx, destination)
    limit = file_limit(ctx)
    with file_errors(source), fs.open_file(ctx.workspace, fs.normalize(source)) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise ActionError(f"{source!r} is {size} bytes, over the file size limit of {limit // MiB} MiB")
        _write_chunks(ctx, destination, key, fs.iter_chunks(f, limit + 1))
    return f"File {source} copied to {destination}."


@tool("Undo Edit Script")
def undo_edit_script(ctx: ToolContext, script_name: str) -> str:
    """Use this to undo the last edit of the python script.

    Args:
        script_name: a valid python script name with relative path to current directory if needed

    Returns:
        The observation will be the content of the script before the last edit. If the script does not exist, the observation will be an error message.
    """
    key = _writable(ctx, script_name)
    versions = ctx.history.get(key)
    if not versions:
        raise ActionError(f"there is no edit of {script_name!r} to undo")
    previous = versions.pop()
    if previous is None:
        with file_errors(script_name):
            fs.unlink(ctx.workspace, key, missing_ok=True)
        return f"Undid the creation of {script_name}; the file no longer exists."
    if isinstance(previous, int):
        raise ActionError(f"the version of {script_name} before its last edit ({previous} bytes) was not kept: "
                          f"Undo keeps versions up to {UNDO_FILE_BYTES // MiB} MiB and {UNDO_TOTAL_BYTES // MiB} MiB in all; "
                          "nothing was changed")
    with file_errors(script_name):
        ctx.sandbox.write_file(key, previous)
    text = previous.decode("utf-8", "replace")
    return clip(f"Content of {script_name} after undo of the most recent edit:\n{text}", ctx.observation_chars)


@tool("Inspect Script Lines")
def inspect_script_lines(ctx: ToolContext, script_name: str, start_line_number: int, end_line_number: int) -> str:
    """Use this to inspect specific part of a python script precisely, or the full content of a short script. The number of lines to display is limited to 100 lines. This is especially helpful when debugging.

    Args:
        script_name: a valid python script name with relative path to current directory if needed
        start_line_number: a valid line number
        end_line_number: a valid line number

    Returns:
        The observation will be the content of the script between start_line_number and end_line_number . If the script does not exist, the observation will be an error message.
    """  # noqa: E501 (MLAgentBench's tool description, verbatim)
    key = existing_file(ctx, script_name)
    if start_line_number < 1 or end_line_number < start_line_number:
        raise ActionError("line numbers start at 1 and end_line_number must not be before start_line_number")
    if end_line_number - start_line_number >= ctx.inspect_max_lines:
        raise ActionError(f"the number of lines to display is limited to {MAX_INSPECT_LINES} lines")
    with file_errors(script_name):
        found = fs.read_lines(ctx.workspace, key, start_line_number, end_line_number, max_line=MAX_LINE_BYTES)
    chunk = [line.removesuffix(b"\r").decode("utf-8", "replace") + (f" [... {cut} more bytes of this line cut ...]" if cut else "")
             for line, cut in found.lines]
    if found.complete:
        header = f"Here are the lines (the file ends at line {found.total}):\n\n"
    else:
        header = f"Here are the lines (the file has more than {found.total} lines; only its start was counted):\n\n"
    return clip(header + "\n".join(chunk), ctx.observation_chars)
