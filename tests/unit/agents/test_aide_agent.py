"""``--agent aide``: draft, debug and improve nodes written by a (scripted) model; the best node is submitted."""

from __future__ import annotations

import pytest
from llm_server import ScriptedLLM

from mlgym.runs import runner
from mlgym.runlog.trace import load

MAIN = "openai/test-model"
HEAD = "import pandas as pd\nfrom sklearn.model_selection import train_test_split\n"
BODY = ("tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
        "X, y = tr.drop(columns=['label']), tr['label']\n"
        "a, b, c, d = train_test_split(X, y, test_size=0.2, random_state=0)\n"
        "m = MODEL.fit(a, c)\nprint(f'validation accuracy: {m.score(b, d):.4f}')\nm.fit(X, y)\n"
        "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns=['id']))}).to_csv('submission.csv', index=False)\n")
TREE = HEAD + "from sklearn.tree import DecisionTreeClassifier\n" + BODY.replace("MODEL", "DecisionTreeClassifier(max_depth=3, random_state=0)")
SVC = HEAD + "from sklearn.svm import SVC\n" + BODY.replace("MODEL", "SVC(gamma=0.001)")
BROKEN = HEAD + "raise SystemExit('boom')\n"


def block(code: str) -> str:
    return f"Here is the script:\n```python\n{code}```\n"


def reply(body):
    """Drafts: a broken script, then a shallow tree; a debug or an improvement: the SVC."""
    user = body["messages"][-1]["content"]
    if "Write a new solution" in user:
        reply.drafts += 1
        return block(BROKEN if reply.drafts == 1 else TREE)
    return block(SVC)


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    reply.drafts = 0
    with ScriptedLLM() as server:
        server.default(MAIN, reply)
        yield server


@pytest.mark.slow
def test_aide_tree_search_submits_its_best_node(llm, tmp_path):
    log_dir = tmp_path / "run"
    rc = runner.main(["--task", "digits", "--agent", "aide", "--llm-name", MAIN, "--llm-base-url", llm.url, "--max-steps", "11",
                      "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q"])
    assert rc == 0
    trace = load(log_dir)
    writes = [s["action"]["arguments"]["content"] for s in trace.steps if s["action"]["name"] == "Write File"]
    assert writes == [BROKEN, TREE, SVC]  # draft, draft, then a debug of the broken one or an improvement of the tree
    assert [r["type"] for r in trace.records].count("llm") == 3 == len(llm.requests)
    prompts = [r["prompt"][-1]["content"] for r in trace.records if r["type"] == "llm"]
    assert "boom" in prompts[2] or "reached validation accuracy 0." in prompts[2]
    assert trace.result["reason"] == "final_answer" and trace.result["success"]  # the SVC node was the last run and the best
    assert [s["reward"] for s in trace.steps][-1] == trace.result["reward"]
