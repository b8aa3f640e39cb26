"""File tools (MLAgentBench names and arguments).  All paths stay inside the workspace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlgym.errors import ActionError, PathEscapeError
from mlgym.paths import display, resolve_in
from mlgym.tools.base import ToolContext, tool

MAX_INSPECT_LINES = 100


def clip(text: str, limit: int) -> str:
    """Keep head and tail of ``text`` with a note of how much was cut."""
    if len(text) <= limit:
        return text
    half = limit // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n[... {cut} characters cut; use Inspect Script Lines to see a part ...]\n{text[-half:]}"


def _writable(ctx: ToolContext, rel: str) -> Path:
    target = resolve_in(ctx.workspace, rel)
    if target == ctx.workspace.resolve():
        raise ActionError(f"{rel!r} is the workspace folder, not a file")
    for ro in ctx.read_only:
        ro_path = (ctx.workspace / ro).resolve()
        if target == ro_path or ro_path in target.parents:
            raise PathEscapeError(f"{rel!r} is in the read-only folder {ro}/")
    if target.is_dir():
        raise ActionError(f"{rel!r} is a directory")
    if target.exists() and not target.is_file():  # a FIFO or device would block the host
        raise ActionError(f"{rel!r} is not a regular file")
    return target


def existing_file(ctx: ToolContext, rel: str) -> Path:
    """The workspace file ``rel`` names, or an ActionError saying what is wrong with it."""
    try:
        target = resolve_in(ctx.workspace, rel, must_exist=True)
    except FileNotFoundError:
        raise ActionError(f"file {rel!r} does not exist; use List Files to see what is there") from None
    if target.is_dir():
        raise ActionError(f"{rel!r} is a directory; use List Files")
    if not target.is_file():  # a FIFO or device would block the host
        raise ActionError(f"{rel!r} is not a regular file")
    return target


def _remember(ctx: ToolContext, target: Path) -> None:
    """Keep the previous version of a file so Undo Edit Script can restore it."""
    key = display(ctx.workspace, target)
    ctx.history.setdefault(key, []).append(target.read_bytes() if target.exists() else None)


def _write(ctx: ToolContext, rel: str, data: bytes) -> Path:
    target = _writable(ctx, rel)
    _remember(ctx, target)
    ctx.sandbox.write_file(display(ctx.workspace, target), data)
    return target


def write_text(ctx: ToolContext, rel: str, text: str) -> Path:
    """Write ``text`` to ``rel`` as the file tools do: checked path, kept for Undo Edit Script."""
    return _write(ctx, rel, text.encode())


@tool("List Files")
def list_files(ctx: ToolContext, dir_path: str = ".") -> str:
    """Use this to navigate the file system.

    Args:
        dir_path: a valid relative path to a directory, such as "." or "folder1/folder2"

    Returns:
        The observation will be a list of files and folders in dir_path or current directory is dir_path is empty, or an error message if dir_path is invalid.
    """
    target = resolve_in(ctx.workspace, dir_path)
    if not target.is_dir():
        raise ActionError(f"{dir_path!r} is not a directory")
    entries = []
    with os.scandir(target) as it:
        for e in it:
            try:
                is_dir = stat.S_ISDIR(e.stat().st_mode)
            except OSError:
                is_dir = False  # dangling symlink
            entries.append(e.name + ("/" if is_dir else ""))
    entries.sort()
    return clip("\n".join(entries), ctx.observation_chars) if entries else "(empty directory)"


@tool("Read File")
def read_file(ctx: ToolContext, file_name: str) -> str:
    """Use this to read an existing file.

    Args:
        file_name: a valid file name with relative path to current directory if needed

    Returns:
        The observation will be the contents of the file read.
    """
    target = existing_file(ctx, file_name)
    with open(target, "rb") as f:
        data = f.read(ctx.observation_chars * 4 + 1)
    text = data.decode("utf-8", "replace")
    if target.stat().st_size > len(data):
        text += f"\n[... file is {target.stat().st_size} bytes; only the start is shown ...]"
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
    target = _writable(ctx, file_name)
    old = target.read_bytes() if target.exists() else b""
    _write(ctx, file_name, old + content.encode())
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
    data = existing_file(ctx, source).read_bytes()
    _write(ctx, destination, data)
    return f"File {source} copied to {destination}."


@tool("Undo Edit Script")
def undo_edit_script(ctx: ToolContext, script_name: str) -> str:
    """Use this to undo the last edit of the python script.

    Args:
        script_name: a valid python script name with relative path to current directory if needed

    Returns:
        The observation will be the content of the script before the last edit. If the script does not exist, the observation will be an error message.
    """
    target = _writable(ctx, script_name)
    key = display(ctx.workspace, target)
    versions = ctx.history.get(key)
    if not versions:
        raise ActionError(f"there is no edit of {script_name!r} to undo")
    previous = versions.pop()
    if previous is None:
        target.unlink(missing_ok=True)
        return f"Undid the creation of {script_name}; the file no longer exists."
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
    """
    target = existing_file(ctx, script_name)
    if start_line_number < 1 or end_line_number < start_line_number:
        raise ActionError("line numbers start at 1 and end_line_number must not be before start_line_number")
    if end_line_number - start_line_number >= ctx.inspect_max_lines:
        raise ActionError(f"the number of lines to display is limited to {MAX_INSPECT_LINES} lines")
    lines = target.read_text(errors="replace").splitlines()
    chunk = lines[start_line_number - 1 : end_line_number]
    header = f"Here are the lines (the file ends at line {len(lines)}):\n\n"
    return clip(header + "\n".join(chunk), ctx.observation_chars)
