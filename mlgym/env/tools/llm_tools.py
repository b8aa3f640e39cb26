"""LLM-backed tools with MLAgentBench's names and arguments (imported by the agents that use them).

They call the models in ``ctx.extra``, which the env builds in its own process from the
agent's ``llm_tools`` settings (a reset option or action field, see
:meth:`mlgym.llm.client.RunLLMs.tool_options`): ``"llm"`` (the fast model: Understand File,
Reflection, Retrieval from Research Log) and ``"edit_llm"`` (Edit Script (AI) and Edit
Script Segment (AI); falls back to ``"llm"``).  Their calls go to the env's trace.  The
research log's two tools may also run between steps (an ``aside`` action, not a step).  ``ctx.extra["research_problem"]`` is
the task description.  Long inputs are cut by tokens (tiktoken), not characters.  Edits
go through :func:`mlgym.env.tools.files.write_text`, so Undo Edit Script restores them.  The
research log is ``research_log.log`` in the workspace, as in MLAgentBench.
"""

from __future__ import annotations

import difflib
import re
import time
from typing import Any, NamedTuple

from mlgym.core.errors import ActionError, BudgetExceededError, LLMError
from mlgym.llm.client import count_tokens, split_tokens, truncate_tokens
from mlgym.env.tools.base import ToolContext, tool
from mlgym.env.tools.files import EDIT_READ_BYTES, append_bytes, clip, read_some, write_text

LLM_TOOLS = (
    "Understand File",
    "Edit Script (AI)",
    "Edit Script Segment (AI)",
    "Reflection",
    "Retrieval from Research Log",
    "Append Summary to Research Log",
)
RESEARCH_LOG = "research_log.log"
BACKUP_DIR = "backup"  # AI-edit backups of the mlagentbench profile
CHUNK_TOKENS = 4000  # per Understand File call
MAX_CHUNKS = 12  # a bigger file is read only this far (said in the observation)
MLAB_BLOCK_CHARS = 10_000  # the mlagentbench profile's Understand File blocks (characters, every block read)


class ToolProfile(NamedTuple):
    """How the LLM-backed tools behave under an agent profile (``llm_tools``' ``profile`` setting)."""

    understand_block_chars: int | None  # Understand File: every block of this many characters (None: token chunks, capped)


# agent profile name (agents/options.py PROFILES) -> tool behaviour; an unknown or missing profile: "mlgym"
TOOL_PROFILES: dict[str, ToolProfile] = {
    "mlgym": ToolProfile(understand_block_chars=None),
    "mlagentbench": ToolProfile(understand_block_chars=MLAB_BLOCK_CHARS),  # MLAgentBench's own tools, reproduced
}


def tool_profile(ctx: ToolContext) -> ToolProfile:
    return TOOL_PROFILES.get(str(ctx.extra.get("profile") or "mlgym"), TOOL_PROFILES["mlgym"])
EDIT_MAX_TOKENS = 12000  # a longer script must be edited a segment at a time
LOG_TOKENS = 6000  # research log shown to Reflection / Retrieval (its tail)
_CODE_RE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def _llm(ctx: ToolContext, key: str = "llm") -> Any:
    client = ctx.extra.get(key) or ctx.extra.get("llm")
    if client is None:
        raise ActionError("this tool needs an LLM and none is configured (run an LLM agent with --llm-name)")
    return client


def _ask(ctx: ToolContext, prompt: str, purpose: str, key: str = "llm") -> str:
    try:
        reply = _llm(ctx, key).complete([{"role": "user", "content": prompt}], purpose=purpose)
    except LLMError as e:  # the tool failed, the episode goes on
        raise ActionError(f"the model behind this tool failed: {e}") from None
    except BudgetExceededError as e:  # the run's budget (both processes' spend): the agent's next call ends it
        raise ActionError(f"the model behind this tool was not called: {e}") from None
    return str(reply.content).strip()


def _read(ctx: ToolContext, rel: str, *, missing_ok: bool = False, max_bytes: int | None = None) -> str:
    """At most ``max_bytes`` of ``rel`` (an edited script: EDIT_READ_BYTES, refused when bigger),
    read race-free through :mod:`mlgym.core.fs`."""
    data, size = read_some(ctx, rel, EDIT_READ_BYTES if max_bytes is None else max_bytes, missing_ok=missing_ok)
    if max_bytes is None and size > len(data):
        raise ActionError(f"{rel!r} is {size} bytes; the edit tools read scripts of up to {EDIT_READ_BYTES // 2**20} MiB")
    return data.decode("utf-8", "replace")


def _research_log(ctx: ToolContext) -> str:
    data, size = read_some(ctx, RESEARCH_LOG, LOG_TOKENS * 8, tail=True, missing_ok=True)  # only the tail is shown
    text = data.decode("utf-8", "replace")
    model = getattr(ctx.extra.get("llm"), "model", None)
    # The tail holds the latest steps; keep it whole, cut the oldest part.
    if size > len(data) or count_tokens(text, model) > LOG_TOKENS:
        text = "[... older entries cut ...]\n" + truncate_tokens(text[-LOG_TOKENS * 8 :], LOG_TOKENS, model)
    return text or "(the research log is empty)"


@tool("Understand File")
def understand_file(ctx: ToolContext, file_name: str, things_to_look_for: str) -> str:
    """Use this to read the whole file and understand certain aspects. You should provide detailed description on what to look for and what should be returned. To get a better understanding of the file, you can use Inspect Script Lines action to inspect specific part of the file.

    Args:
        file_name: a valid file name with relative path to current directory if needed
        things_to_look_for: a detailed description on what to look for and what should returned

    Returns:
        The observation will be a description of relevant content and lines in the file. If the file does not exist, the observation will be an error message.
    """  # noqa: E501 (MLAgentBench's tool description, verbatim)
    # Enough bytes for MAX_CHUNKS chunks (a token is rarely more than 8 bytes); never a whole huge file.
    max_bytes = CHUNK_TOKENS * (MAX_CHUNKS + 1) * 8
    text = _read(ctx, file_name, max_bytes=max_bytes)
    model = getattr(_llm(ctx), "model", None)
    blocks = tool_profile(ctx).understand_block_chars
    chunks = char_blocks(text, blocks) if blocks else split_tokens(text, CHUNK_TOKENS, model)
    note = ""
    if len(chunks) > MAX_CHUNKS and not blocks:
        note = f"\n(Only the first {MAX_CHUNKS} parts of {CHUNK_TOKENS} tokens of {file_name} were read.)"
        chunks = chunks[:MAX_CHUNKS]
    elif len(text.encode()) >= max_bytes:
        note = f"\n(Only the first {max_bytes} bytes of {file_name} were read.)"
    answers = []
    line = 1
    for i, chunk in enumerate(chunks):
        last = line + chunk.count("\n")
        where = f"lines {line} to {last}" if len(chunks) > 1 else "the whole file"
        prompt = (
            f"Here is {where} of the file {file_name}:\n```\n{chunk}\n```\n"
            f"Look for: {things_to_look_for}\n"
            "Answer briefly and cite the relevant line numbers. Report only what the text shows; do not guess "
            "numbers. If this part does not contain something asked for, say \"In this segment, I cannot find ...\"."
        )
        answers.append(_ask(ctx, prompt, f"Understand File {i + 1}/{len(chunks)}"))
        line = last + 1
    if len(answers) == 1:
        return clip(answers[0] + note, ctx.observation_chars)
    parts = "\n\n".join(f"Segment {i + 1}:\n{a}" for i, a in enumerate(answers))
    prompt = (
        f"These are notes on consecutive segments of the file {file_name}:\n{parts}\n\n"
        f"Combine them into one coherent description of the whole file covering: {things_to_look_for}"
    )
    return clip(_ask(ctx, prompt, "Understand File (combine)") + note, ctx.observation_chars)


def char_blocks(text: str, size: int) -> list[str]:
    """MLAgentBench's Understand File split: whole lines while a block stays under ``size``
    characters; a longer line is cut into ``size``-character pieces."""
    lines = text.split("\n")
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        block: list[str] = []
        joined = 0  # len("\n".join(block)), kept as we go
        while i < len(lines) and joined + len(lines[i]) < size:
            joined += len(lines[i]) + (1 if block else 0)
            block.append(lines[i])
            i += 1
        if block:
            blocks.append("\n".join(block))
        else:
            blocks.extend(lines[i][k : k + size] for k in range(0, len(lines[i]), size))
            i += 1
    return blocks or [""]


def _extract_code(completion: str) -> str:
    m = _CODE_RE.search(completion)
    if m is None:
        raise ActionError("the edit model did not return a ```python code block; nothing was changed. Rephrase the edit_instruction and try again")
    return m.group(1).strip("\n") + "\n"


def _diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}")
    return "".join(lines) or "(no change)"


def _edit(ctx: ToolContext, code: str, instruction: str, what: str) -> str:
    model = getattr(_llm(ctx, "edit_llm"), "model", None)
    if count_tokens(code, model) > EDIT_MAX_TOKENS:
        raise ActionError(f"the {what} is longer than {EDIT_MAX_TOKENS} tokens; edit a smaller segment with Edit Script Segment (AI)")
    prompt = (
        f"Here is a {what}:\n```python\n{code}\n```\n"
        f"Edit it by following this instruction:\n{instruction}\n"
        "Return the complete code after the edit in one ```python code block, and change nothing else."
    )
    return _extract_code(_ask(ctx, prompt, f"Edit Script ({what})", key="edit_llm"))


def _backup(ctx: ToolContext, script_name: str, old: str) -> None:
    """With ``ctx.extra["edit_backups"]`` (the mlagentbench profile), keep the script as it was
    before an AI edit in ``backup/<script_name>_<time>`` in the workspace, as MLAgentBench does
    (Undo Edit Script itself uses the in-memory history)."""
    if not ctx.extra.get("edit_backups"):
        return
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    ctx.sandbox.write_file(f"{BACKUP_DIR}/{script_name}_{stamp}", old.encode())


@tool("Edit Script (AI)")
def edit_script(ctx: ToolContext, script_name: str, edit_instruction: str, save_name: str) -> str:
    """Use this to do a relatively large but cohesive edit over a python script. Instead of editing the script directly, you should describe the edit instruction so that another AI can help you do this.

    Args:
        script_name: a valid python script name with relative path to current directory if needed. An empty script will be created if it does not exist.
        edit_instruction: a detailed step by step description on how to edit it.
        save_name: a valid file name with relative path to current directory if needed

    Returns:
        The observation will be the edited content of the script. If the script does not exist, the observation will be an error message. You should always double check whether the edit is correct. If it is far from correct, you can use the Undo Edit Script action to undo the edit.
    """  # noqa: E501 (MLAgentBench's tool description, verbatim)
    old = _read(ctx, script_name, missing_ok=True)
    new = _edit(ctx, old, edit_instruction, "python script")
    _backup(ctx, script_name, old)
    write_text(ctx, save_name, new)
    return clip(
        f"The edited file is saved to {save_name}. Here is the diff, please check if the edit is correct and desirable:\n\n"
        + _diff(old, new, save_name), ctx.observation_chars,
    )


@tool("Edit Script Segment (AI)")
def edit_script_segment(ctx: ToolContext, script_name: str, start_line_number: int, end_line_number: int, edit_instruction: str,
                        save_name: str) -> str:
    """Use this to do a relatively large but cohesive edit over a python script over a segment. Instead of editing the script directly, you should describe the edit instruction so that another AI can help you do this.

    Args:
        script_name: a valid python script name with relative path to current directory if needed. An empty script will be created if it does not exist.
        start_line_number: a valid line number
        end_line_number: a valid line number
        edit_instruction: a detailed step by step description on how to edit it.
        save_name: a valid file name with relative path to current directory if needed

    Returns:
        The observation will be the edited content of the script. If the script does not exist, the observation will be an error message. You should always double check whether the edit is correct. If it is far from correct, you can use the Undo Edit Script action to undo the edit.
    """  # noqa: E501 (MLAgentBench's tool description, verbatim)
    if start_line_number < 1 or end_line_number < start_line_number:
        raise ActionError("line numbers start at 1 and end_line_number must not be before start_line_number")
    old = _read(ctx, script_name, missing_ok=True)
    lines = old.splitlines(keepends=True)
    segment = "".join(lines[start_line_number - 1 : end_line_number])
    edited = _edit(ctx, segment, edit_instruction, f"segment (lines {start_line_number}-{end_line_number}) of a python script")
    new = "".join(lines[: start_line_number - 1]) + edited + "".join(lines[end_line_number:])
    _backup(ctx, script_name, old)
    write_text(ctx, save_name, new)
    return clip(
        f"The edited file is saved to {save_name}. Here is the diff, please check if the edit is correct and desirable:\n\n"
        + _diff(old, new, save_name), ctx.observation_chars,
    )


@tool("Reflection")
def reflection(ctx: ToolContext, things_to_reflect_on: str) -> str:
    """Use this to look over all the past steps and reflect. You should provide detailed description on what to reflect on and what should be returned.

    Args:
        things_to_reflect_on: a detailed description on what to reflect on and what should be returned

    Returns:
        The observation will be a the reflection.
    """
    prompt = (
        f"Research problem: {ctx.extra.get('research_problem', '(not given)')}\n"
        f"Research log so far:\n```\n{_research_log(ctx)}\n```\n"
        f"Reflect on this: {things_to_reflect_on}\n"
        "Answer in plain paragraphs, as truthfully as the log allows."
    )
    return "Reflection: " + _ask(ctx, prompt, "Reflection")


def retrieve(ctx: ToolContext, current_plan: str) -> str:
    """The summary of the research log the research agent puts in its prompt."""
    prompt = (
        f"Research problem: {ctx.extra.get('research_problem', '(not given)')}\n"
        f"Current research plan and status:\n{current_plan or '(none yet)'}\n\n"
        f"Research log:\n```\n{_research_log(ctx)}\n```\n"
        "List, concisely, everything in the research log that will help with the next steps: "
        "what was tried, the results measured, errors met and files changed."
    )
    return _ask(ctx, prompt, "Retrieval from Research Log")


@tool("Retrieval from Research Log")
def retrieval_from_research_log(ctx: ToolContext, current_plan: str) -> str:
    """Use this to retrieve relevant information from the research log. You should provide detailed description on what to look for and what should be returned.

    Args:
        current_plan: a detailed description of the current research plan and status

    Returns:
        The observation will be a description of relevant content and lines in the research log.
    """
    return retrieve(ctx, current_plan)


@tool("Append Summary to Research Log")
def append_summary_to_research_log(ctx: ToolContext, content: str) -> str:
    """Append to the summary of previous step to research log

    Args:
        content: a string within 500 character limit

    Returns:
        The observation will be a success message if the content is appended to the research log. Otherwise, the observation will be an error message.
    """
    append_research_log(ctx, content)
    return "Successfully appended to research log"


def append_research_log(ctx: ToolContext, content: str) -> None:
    """Append to the research log (not kept for Undo: the log only grows)."""
    append_bytes(ctx, RESEARCH_LOG, (content.rstrip("\n") + "\n").encode(), remember=False)
