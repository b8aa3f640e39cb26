"""Running the agent's scripts in the sandbox, and ending the episode."""

from __future__ import annotations

from mlgym.core.errors import ActionError
from mlgym.core.paths import display, resolve_in
from mlgym.env.tools.base import ToolContext, tool
from mlgym.env.tools.files import clip

RUNNERS = {".py": None, ".sh": "bash"}  # None: the task's Python


@tool("Execute Script")
def execute_script(ctx: ToolContext, script_name: str) -> str:
    """Use this to execute the python script. The script must already exist.

    Args:
        script_name: a valid python script name with relative path to current directory if needed

    Returns:
        The observation will be output of the script or errors.
    """
    try:
        target = resolve_in(ctx.workspace, script_name, must_exist=True)
    except FileNotFoundError:
        raise ActionError(f"script {script_name!r} does not exist; use List Files to see what is there") from None
    if not target.is_file():
        raise ActionError(f"{script_name!r} is not a file")
    if target.suffix not in RUNNERS:
        raise ActionError(f"{script_name!r}: only {', '.join(RUNNERS)} scripts can be executed")
    rel = display(ctx.workspace, target)
    runner = RUNNERS[target.suffix] or ctx.python
    argv = [runner, "-u", rel] if runner == ctx.python else [runner, rel]
    res = ctx.sandbox.exec(argv, timeout=ctx.exec_timeout)
    output = res.stdout + (("\n" if res.stdout and not res.stdout.endswith("\n") else "") + res.stderr if res.stderr else "")
    notes = []
    if res.timed_out:
        notes.append(f"The script was killed after the time limit of {ctx.exec_timeout:g} seconds.")
    elif res.killed_reason == "memory":
        notes.append("The script was killed because it used more memory than allowed.")
    elif res.killed_reason:
        notes.append(f"The script was killed ({res.killed_reason}).")
    elif res.returncode != 0:
        notes.append(f"The script exited with code {res.returncode}.")
    if res.truncated_bytes:
        notes.append(f"{res.truncated_bytes} bytes of output were cut from the middle.")
    body = output if output.strip() else "(the script printed nothing)"
    text = f"The script has been executed. Here is the output:\n{body}"
    if notes:
        text += "\n" + " ".join(notes)
    return clip(text, ctx.observation_chars)


@tool("Final Answer", ends_episode=True)
def final_answer(ctx: ToolContext, final_answer: str) -> str:
    """Use this to provide the final answer to the current task.

    Args:
        final_answer: a detailed description on the final answer

    Returns:
        The observation will be empty.
    """
    ctx.final_answer = final_answer
    return "Final answer submitted; the submission will now be evaluated."
