"""Every tool on good and bad input, path escapes, execution limits, generated schemas."""

from __future__ import annotations

import os

import pytest

from mlgym.env.tools import CORE_TOOLS, REGISTRY
from mlgym.sandbox.local import bwrap_available

needs_bwrap = pytest.mark.skipif(
    bwrap_available() is not None and not os.environ.get("CI"), reason=f"{bwrap_available()}"
)


@pytest.fixture
def env(env_factory):
    e = env_factory(max_steps=200, exec_timeout=20)
    e.reset(seed=0)
    return e


def act(env, name, **arguments):
    obs, _, _, _, info = env.step({"name": name, "arguments": arguments})
    return obs, info["error"]


def test_schemas_are_generated_from_one_definition():
    for name in CORE_TOOLS:
        tool = REGISTRY[name]
        schema = tool.json_schema()["function"]
        assert schema["name"] == name.lower().replace(" ", "_")
        assert schema["description"] and all(p["description"] for p in schema["parameters"]["properties"].values())
        assert f"Action: {name}" in tool.prompt_text()
    inspect = REGISTRY["Inspect Script Lines"].json_schema()["function"]["parameters"]
    assert inspect["properties"]["start_line_number"]["type"] == "integer"
    assert inspect["required"] == ["script_name", "start_line_number", "end_line_number"]
    assert REGISTRY["List Files"].required == ()  # dir_path has a default


def test_list_read_write_append_copy_undo(env):
    assert act(env, "Write File", file_name="notes/a.txt", content="one\n") == ("File notes/a.txt written successfully (4 characters).", None)
    assert act(env, "Append File", file_name="notes/a.txt", content="two\n")[1] is None
    assert act(env, "Read File", file_name="notes/a.txt")[0] == "one\ntwo\n"
    assert act(env, "Copy File", source="notes/a.txt", destination="b.txt")[1] is None
    assert act(env, "List Files", dir_path="notes")[0] == "a.txt"
    assert "b.txt" in act(env, "List Files", dir_path=".")[0].splitlines()
    obs, err = act(env, "Undo Edit Script", script_name="notes/a.txt")
    assert err is None and obs.endswith("one\n")
    assert (env.workspace / "notes/a.txt").read_text() == "one\n"
    act(env, "Undo Edit Script", script_name="notes/a.txt")
    assert not (env.workspace / "notes/a.txt").exists()
    obs, err = act(env, "Undo Edit Script", script_name="notes/a.txt")
    assert err and "no edit" in obs


def test_inspect_script_lines(env):
    obs, err = act(env, "Inspect Script Lines", script_name="train.py", start_line_number=1, end_line_number=3)
    assert err is None and "Starter" in obs and "the file ends at line" in obs
    assert act(env, "Inspect Script Lines", script_name="train.py", start_line_number=1, end_line_number=500)[1]
    assert act(env, "Inspect Script Lines", script_name="train.py", start_line_number=5, end_line_number=2)[1]
    obs, err = act(env, "Inspect Script Lines", script_name="train.py", start_line_number="2", end_line_number="3")
    assert err is None  # numeric strings are accepted, as LLMs write them


@pytest.mark.parametrize(
    "action, message",
    [
        ({"name": "Nope", "arguments": {}}, "unknown action 'Nope'; valid actions: List Files"),
        ({"name": "Read File", "arguments": {}}, "missing file_name"),
        ({"name": "Read File", "arguments": {"file_name": "train.py", "x": 1}}, "unexpected x"),
        ({"name": "Read File", "arguments": {"file_name": ["a"]}}, "file_name must be a string"),
        ({"name": "Read File", "arguments": {"file_name": "missing.py"}}, "does not exist"),
        ({"name": "Read File", "arguments": {"file_name": "data"}}, "is a directory"),
        ({"name": "Execute Script", "arguments": {"script_name": "a.py; echo hi"}}, "does not exist"),
        ({"name": "Write File", "arguments": {"file_name": "data/x.csv", "content": "x"}}, "read-only folder data/"),
        ({"name": "Copy File", "arguments": {"source": "train.py", "destination": "data/t.py"}}, "read-only"),
        ("Action: List Files\nAction Input: {not json", "not valid JSON"),
        ({"arguments": {}}, 'needs a "name"'),
        (42, "must be a dict or a string"),
    ],
)
def test_bad_input_is_an_error_observation(env, action, message):
    obs, reward, terminated, truncated, info = env.step(action)
    assert message in obs and info["error"] and not terminated
    last = env.log_dir / "trace.jsonl"
    assert '"error": true' in last.read_text().splitlines()[-1]


@pytest.mark.parametrize("path", ["..", "../x", "/etc/passwd", "~/x", "data/../../x", "a/../../x"])
def test_path_escapes_refused(env, path):
    for name, args in [
        ("List Files", {"dir_path": path}),
        ("Read File", {"file_name": path}),
        ("Write File", {"file_name": path, "content": "x"}),
        ("Execute Script", {"script_name": path}),
    ]:
        obs, err = act(env, name, **args)
        assert err and ("outside the workspace" in obs or "absolute" in obs), (name, path, obs)


def test_symlink_pointing_out_is_refused(env, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    os.symlink(secret, env.workspace / "link.txt")
    os.symlink(tmp_path, env.workspace / "linkdir")
    assert "outside the workspace" in act(env, "Read File", file_name="link.txt")[0]
    assert "outside the workspace" in act(env, "Write File", file_name="link.txt", content="x")[0]
    assert "outside the workspace" in act(env, "List Files", dir_path="linkdir")[0]
    assert "outside the workspace" in act(env, "Write File", file_name="linkdir/new.txt", content="x")[0]
    assert secret.read_text() == "TOP SECRET" and not (tmp_path / "new.txt").exists()


def test_script_with_shell_metacharacters_is_not_a_shell_command(env):
    act(env, "Write File", file_name="a.py; touch pwned.py", content="print('x')")
    obs, err = act(env, "Execute Script", script_name="a.py; touch pwned.py")
    assert err is None and obs.endswith("output:\nx\n")  # the file of that literal name ran
    obs, err = act(env, "Execute Script", script_name="train.py && touch pwned.py")
    assert err and "does not exist" in obs
    act(env, "Write File", file_name="notes.txt", content="x")
    assert "only .py, .sh scripts" in act(env, "Execute Script", script_name="notes.txt")[0]
    assert not (env.workspace / "pwned.py").exists()


@pytest.mark.slow
def test_script_timeout_kills_tree(env_factory):
    env = env_factory(exec_timeout=2)
    env.reset(seed=0)
    code = (
        "import subprocess, time\n"
        "subprocess.Popen(['python3', '-c', 'import time; time.sleep(6); open(\"late.txt\",\"w\").write(\"x\")'])\n"
        "print('started', flush=True)\ntime.sleep(60)\n"
    )
    act(env, "Write File", file_name="slow.py", content=code)
    obs, err = act(env, "Execute Script", script_name="slow.py")
    assert "killed after the time limit of 2 seconds" in obs and "started" in obs
    import time

    time.sleep(5)
    assert not (env.workspace / "late.txt").exists()


@pytest.mark.slow
def test_megabytes_of_output_are_clipped(env):
    act(env, "Write File", file_name="loud.py", content="import sys\nfor i in range(200000): print('line', i)\nprint('THE END')\n")
    obs, err = act(env, "Execute Script", script_name="loud.py")
    assert err is None and len(obs) < 25_000
    assert "line 0" in obs and "THE END" in obs and "bytes of output were cut from the middle" in obs


def test_empty_output_is_said(env):
    act(env, "Write File", file_name="quiet.py", content="x = 1\n")
    assert "(the script printed nothing)" in act(env, "Execute Script", script_name="quiet.py")[0]


def test_failing_script_reports_exit_code(env):
    act(env, "Write File", file_name="bad.py", content="raise SystemExit(3)\n")
    assert "exited with code 3" in act(env, "Execute Script", script_name="bad.py")[0]


@needs_bwrap
def test_code_cannot_read_hidden_files_or_network(env):
    from mlgym.tasks.data import TaskData
    from mlgym.tasks.spec import TaskSpec

    task = TaskSpec.load("digits")
    answers = TaskData(task).private / "test_labels.csv"
    assert answers.is_file()
    code = (
        "import os, socket\n"
        f"for p in [{str(answers)!r}, {str(task.eval_script)!r}, os.path.expanduser('~/.ssh'), '/etc/shadow']:\n"
        "    try:\n        open(p).read(); print('READ', p)\n"
        "    except OSError as e:\n        print('DENIED', p)\n"
        "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2); print('NET OPEN')\n"
        "except OSError:\n    print('NET CLOSED')\n"
        "print(open('data/train.csv').readline()[:10])\n"
        "try:\n    open('data/train.csv', 'a').write('x'); print('DATA WRITTEN')\n"
        "except OSError:\n    print('DATA READ-ONLY')\n"
    )
    act(env, "Write File", file_name="snoop.py", content=code)
    obs, _ = act(env, "Execute Script", script_name="snoop.py")
    assert "READ" not in obs.replace("READ-ONLY", ""), obs
    assert "NET CLOSED" in obs and "DATA READ-ONLY" in obs and "p0,p1" in obs


def test_memory_limit_is_reported_to_the_agent(env_factory):
    env = env_factory(memory_mb=256)
    env.reset(seed=0)
    act(env, "Write File", file_name="hog.py", content="x = [bytearray(64 * 2**20) for _ in range(16)]\nprint('survived')\n")
    obs, err = act(env, "Execute Script", script_name="hog.py")
    assert "survived" not in obs
    assert "more memory than allowed" in obs


def test_fifo_does_not_block_the_host(env):
    os.mkfifo(env.workspace / "pipe")
    for name, args in [
        ("Read File", {"file_name": "pipe"}),
        ("Append File", {"file_name": "pipe", "content": "x"}),
        ("Copy File", {"source": "pipe", "destination": "p2"}),
        ("Inspect Script Lines", {"script_name": "pipe", "start_line_number": 1, "end_line_number": 2}),
    ]:
        obs, err = act(env, name, **args)
        assert err and "not a regular file" in obs, (name, obs)


def test_huge_directory_listing_is_clipped(env):
    many = env.workspace / "many"
    many.mkdir()
    for i in range(5000):
        (many / f"file_{i:05d}.txt").touch()
    obs, err = act(env, "List Files", dir_path="many")
    assert err is None and len(obs) < 21_000 and "characters cut" in obs
    assert obs.startswith("file_00000.txt") and obs.endswith("file_04999.txt")
