"""The research agent's MLAgentBench profile cannot drift: a scripted conversation is replayed
through both profiles (``python -m mlgym.runner --agent research`` against the scripted
OpenAI-compatible server, with MLAgentBench's flags) and the prompts the server receives
are checked against what MLAgentBench's algorithm produces for the same history.

The reference below is written from MLAgentBench's algorithm (agents/agent_research.py at
snap-stanford/MLAgentBench), independently of mlgym.agents.research: which steps are kept,
how a past step is rendered, when observations are summarised, the retry note, the stop
sequence and temperatures, the tools listed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from llm_server import ScriptedLLM

from mlgym.runs import runner
from mlgym.core.errors import TaskError
from mlgym.tasks.spec import TaskSpec

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_cifar10  # noqa: E402

MAIN, FAST, EDIT = "openai/test-model", "openai/fast-model", "openai/edit-model"
OBS_SUMMARY = "[Observation]: the script printed a long line of x."
STEP_SUMMARY = "[Reasoning]: checked.\n[Action]: ran the tool.\n[Observation]: it worked."
NEW_TRAIN = "print('edited')\n"
LONG = "print('x' * 12000)\n"  # its output is over 5,000 characters: summarised in 2 blocks + 1 combine
EIGHT = ["List Files", "Copy File", "Undo Edit Script", "Execute Script", "Final Answer", "Understand File",
         "Inspect Script Lines", "Edit Script (AI)"]
ENTRIES = ["Reflection", "Research Plan and Status", "Fact Check", "Thought", "Action", "Action Input"]


def reply(action: str, args: dict | str, plan: str = "1. **look** 2. improve") -> str:
    """A response as a model writes it; the server stops it before "Observation:"."""
    arg_text = args if isinstance(args, str) else json.dumps(args)
    return (f"Reflection: fine.\nResearch Plan and Status: {plan}\nFact Check: none.\nThought: go on.\n"
            f"Action: {action}\nAction Input: {arg_text}\n")


SCRIPT = [
    reply("List Files", {"dir_path": "."}),
    reply("Inspect Script Lines", {"script_name": "train.py", "start_line_number": 1, "end_line_number": 101}),
    "I am not sure what to do.",  # malformed: the retry note is appended, no step
    reply("Write File", {"file_name": "long.py", "content": LONG}),  # callable though not listed, as there
    reply("Execute Script", {"script_name": "long.py"}, plan="```1. **run** it```"),
    reply("Edit Script (AI)", {"script_name": "train.py", "edit_instruction": "print edited", "save_name": "train.py"}),
    reply("Copy File", "{not json"),  # ActionInputParsingError: a history step, not an env step
    reply("List Files", {"dir_path": "backup"}),
    reply("Final Answer", {"final_answer": "done"}),
]


def task_name() -> str:
    """MLAgentBench's cifar10 when the mlagentbench task family exists, else ours."""
    for name in ("mlagentbench/cifar10", "mlagentbench-cifar10"):
        try:
            TaskSpec.load(name)
            return name
        except TaskError:
            continue
    return "cifar10"


@pytest.fixture
def tiny_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "data"
    monkeypatch.setenv("MLGYM_DATA_DIR", str(d))
    monkeypatch.setenv("MLGYM_ALLOW_UNOFFICIAL_DATA", "1")
    monkeypatch.setenv("MLGYM_CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    # the raw folder of whichever cifar10 task the test runs (data/<task name>/raw)
    make_tiny_cifar10.make_tarball(d / TaskSpec.load(task_name()).name / "raw", per_batch=50, n_test=50)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def run_episode(tmp_path: Path, profile: str, *extra: str) -> tuple[ScriptedLLM, dict, list[dict]]:
    with ScriptedLLM() as llm:
        llm.script(MAIN, *SCRIPT)
        llm.default(FAST, lambda body: OBS_SUMMARY if "too long" in body["messages"][0]["content"] else STEP_SUMMARY)
        llm.default(EDIT, f"```python\n{NEW_TRAIN}```")
        log_dir = tmp_path / profile
        rc = runner.main([
            "--task", task_name(), "--agent", "research", "--profile", profile, "--llm-name", MAIN,
            "--fast-llm-name", FAST, "--edit-script-llm-name", EDIT, "--llm-base-url", llm.url,
            "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q", *extra,
        ])
    assert rc == 0
    records = [json.loads(line) for line in (log_dir / "trace.jsonl").read_text().splitlines()]
    return llm, json.loads((log_dir / "result.json").read_text()), records


# ------------------------------------------------------------------ MLAgentBench's algorithm
def split_entries(text: str) -> dict[str, str]:
    """Each header's value runs to the next header's last possible start (a greedy match)."""
    out, rest = {}, text
    starts = []
    pos = len(text)
    for name in reversed(ENTRIES):  # greedy groups: the later a header, the later its match
        pos = text.rfind(name + ":", 0, pos)
        assert pos >= 0
        starts.append((name, pos))
    starts.reverse()
    for i, (name, at) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(rest)
        out[name] = text[at + len(name) + 1 : end]
    return out


def past_step(response: str, observation: str | None) -> str:
    e = split_entries(response)
    e["Research Plan and Status"] = (e["Research Plan and Status"].strip("`") + "\n\n").replace("**", "")
    text = "\n\nAssistant:\n" + "".join(f"{k}: {e[k]}" for k in ENTRIES) + "\nObservation:"
    return text + ("<Done>\n\n" if observation is None else f"\n```\n{observation}\n```\n\n")


def expected_prompt(initial: str, history: list[tuple[str, str]], keep: int = 3, keep_obs: int = 3) -> str:
    prompt = initial + ("\nNow let's start!\n\n" if len(history) <= keep else "")
    for i in range(max(len(history) - keep, 0), len(history)):
        resp, obs = history[i]
        prompt += past_step(resp, obs if len(history) - i <= keep_obs else None)
    return prompt


@pytest.mark.slow
def test_mlagentbench_profile_replays_mlagentbench_prompts(tmp_path, tiny_cifar):
    llm, result, records = run_episode(
        tmp_path, "mlagentbench", "--agent-type", "ResearchAgent", "--resume-step", "0",
        "--edit-script-llm-max-tokens", "4000", "--agent-max-steps", "50", "--max-steps-in-context", "3",
        "--max-observation-steps-in-context", "3", "--max-retries", "5", "--langchain-agent", "zero-shot-react-description",
    )
    assert result["reason"] == "final_answer"
    steps = [r for r in records if r["type"] == "step"]
    assert [s["action"]["name"] for s in steps] == [
        "List Files", "Inspect Script Lines", "Write File", "Execute Script", "Edit Script (AI)", "List Files", "Final Answer"]
    assert not steps[1]["error"]  # 101 lines are allowed, as in MLAgentBench
    assert "backup/" in steps[0]["observation"] and steps[5]["observation"].startswith("train.py_")

    mains = llm.calls(MAIN)
    assert len(mains) == len(SCRIPT)
    for body in mains:  # MLAgentBench's OpenAI settings: stop, 0.2, 500 tokens
        assert body["stop"] == ["Observation:"] and body["temperature"] == 0.2 and body["max_tokens"] == 500
        assert len(body["messages"]) == 1 and body["messages"][0]["role"] == "user"
    initial = mains[0]["messages"][0]["content"].removesuffix("\nNow let's start!\n\n")
    listed = [line[2:-1] for line in initial.splitlines() if line.startswith("- ") and line.endswith(":")]
    assert listed == EIGHT
    assert TaskSpec.load(task_name()).description.strip() in initial
    assert "Research Plan and Status: The full high level research plan" in initial and "**like this**" in initial

    # the history each main prompt should show, built the way MLAgentBench builds it
    sent = [b["messages"][0]["content"] for b in mains]
    env_obs = iter(s["observation"] for s in steps)
    history: list[tuple[str, str]] = []
    for i, resp in enumerate(SCRIPT):
        if resp.startswith("I am not sure"):  # the retry re-sends the prompt with the note appended
            note = "\n\n Your response was in incorrect format. Please provide a valid response with all entries: "
            assert sent[i + 1] == sent[i] + note + ", ".join(ENTRIES) + "\n\n"
            continue
        if i == 0 or not SCRIPT[i - 1].startswith("I am not sure"):
            assert sent[i] == expected_prompt(initial, history), f"main prompt {i} differs from MLAgentBench's"
        if "{not json" in resp:  # our wording of the parsing error; MLAgentBench's prefix
            marker = "{not json\n\nObservation:\n```\n"
            obs = sent[i + 1].split(marker, 1)[1].split("\n```\n\n", 1)[0]
            assert obs.startswith("ActionInputParsingError: ")
        else:
            obs = next(env_obs)
            if len(obs) > 5000:
                obs = OBS_SUMMARY.split("[Observation]:")[1]
        history.append((resp, obs))
        if not obs.startswith("ActionInputParsingError"):
            history = [h for h in history if not h[1].startswith("ActionInputParsingError")]
    assert "ActionInputParsingError" not in sent[-1] and "ActionInputParsingError" in sent[-2]

    fasts = llm.calls(FAST)
    assert len(fasts) == 3  # 12,000+ characters -> 2 blocks of 10,000 + 1 combine; no per-step summaries
    assert all(b["temperature"] == 0.01 and b["stop"] == ["Observation:"] for b in fasts)
    edits = llm.calls(EDIT)
    assert len(edits) == 1 and edits[0]["max_tokens"] == 4000 and edits[0]["temperature"] == 0.2


@pytest.mark.slow
def test_mlgym_profile_keeps_its_own_algorithm(tmp_path, tiny_cifar):
    llm, result, records = run_episode(tmp_path, "mlgym")
    steps = [r for r in records if r["type"] == "step"]
    assert result["reason"] == "final_answer"
    mains = llm.calls(MAIN)
    for body in mains:
        assert "stop" not in body and body["temperature"] == 0
    first = mains[0]["messages"][0]["content"]
    listed = [line[2:-1] for line in first.splitlines() if line.startswith("- ") and line.endswith(":")]
    assert len(listed) == 10 and "Reflection" in listed and "Edit Script Segment (AI)" in listed
    # Write File is not one of its tools and the malformed reply is not a step: both get a correction turn
    assert "Write File" not in [s["action"]["name"] for s in steps]
    corrections = [b for b in mains if len(b["messages"]) == 3]
    assert len(corrections) >= 2 and all("wrong format" in b["messages"][2]["content"] for b in corrections)
    fasts = llm.calls(FAST)
    summaries = [b for b in fasts if "Summarise them" in b["messages"][0]["content"]]
    retrievals = [b for b in fasts if "Research log:" in b["messages"][0]["content"]]
    assert len(summaries) == len(steps) - 1  # every step but the final one is summarised into the log
    assert len(retrievals) == len(steps) - 4  # before each step once more than 3 steps are done
    last = mains[-1]["messages"][0]["content"]
    n = len(steps)
    assert f"Step {n - 1}:" in last and f"Step {n - 3}:" in last and f"Step {n - 4}:" not in last


@pytest.mark.slow
def test_langchain_react_mode_lists_the_eight_tools(tmp_path, tiny_cifar):
    with ScriptedLLM() as llm:
        llm.script(MAIN, "Thought: look\nAction: List Files\nAction Input: {\"dir_path\": \".\"}",
                   "Thought: no action here", "Thought: I now know the final answer\nFinal Answer: done")
        rc = runner.main(["--task", task_name(), "--agent-type", "LangChainAgent", "--llm-name", MAIN, "--llm-base-url", llm.url,
                          "--log-dir", str(tmp_path / "lc"), "--work-dir", str(tmp_path / "ws"), "-q"])
    assert rc == 0
    result = json.loads((tmp_path / "lc" / "result.json").read_text())
    assert result["reason"] == "final_answer" and result["steps"] == 2  # List Files, then the answer as a Final Answer step
    calls = llm.calls(MAIN)
    assert all(b["stop"] == ["\nObservation:", "\n\tObservation:"] and b["temperature"] == 0.5 and b["max_tokens"] == 2000 for b in calls)
    p0, p2 = calls[0]["messages"][0]["content"], calls[2]["messages"][0]["content"]
    assert p0.startswith("Answer the following questions as best you can.") and p0.endswith("Thought:")
    assert f"should be one of [{', '.join(EIGHT)}]" in p0
    assert "\nObservation: backup/" in p2 or "Observation: " in p2
    assert "Invalid Format: Missing 'Action:' after 'Thought:'" in p2 and p2.startswith(p0)
