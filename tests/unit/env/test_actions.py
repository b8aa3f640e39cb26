"""Parsing agent output into tool calls, tolerating the usual LLM sloppiness."""

from __future__ import annotations

import pytest

from mlgym.env.actions import ToolCall, parse_action
from mlgym.core.errors import ActionError


@pytest.mark.parametrize(
    "text, expected",
    [
        ('Action: List Files\nAction Input: {"dir_path": "."}', ToolCall("List Files", {"dir_path": "."})),
        ('Thought: look\nAction: List Files\nAction Input: ```json\n{"dir_path": "."}\n```', ToolCall("List Files", {"dir_path": "."})),
        ("Action: List Files\nAction Input: {'dir_path': '.'}", ToolCall("List Files", {"dir_path": "."})),
        ('Action: List Files\nAction Input: {"dir_path": ".",}', ToolCall("List Files", {"dir_path": "."})),
        ('Action: Write File\nAction Input: {"file_name": "a.py", "content": "x = 1\ny = 2\n"}',
         ToolCall("Write File", {"file_name": "a.py", "content": "x = 1\ny = 2\n"})),
        ('**Action:** Final Answer\n**Action Input:** {"final_answer": "done"}\nObservation: made up', ToolCall("Final Answer", {"final_answer": "done"})),
        ('Action: List Files\nAction Input: {"dir_path": "."} and some chatter {', ToolCall("List Files", {"dir_path": "."})),
        ("Action: List Files\nAction Input:", ToolCall("List Files", {})),
    ],
)
def test_text_actions(text, expected):
    assert parse_action(text) == expected


def test_dict_actions():
    assert parse_action({"name": "List Files", "arguments": '{"dir_path": "x"}'}) == ToolCall("List Files", {"dir_path": "x"})
    assert parse_action({"name": "List Files"}) == ToolCall("List Files", {})


@pytest.mark.parametrize(
    "bad, message",
    [
        ("hello", "no action found"),
        ("Action: List Files", "no 'Action Input:'"),
        ("Action: List Files\nAction Input: [1, 2]", "must be a JSON object"),
        ("Action: List Files\nAction Input: {oops", "not valid JSON"),
        ({"name": "x", "arguments": [1]}, "must be a JSON object"),
        (None, "must be a dict or a string"),
    ],
)
def test_bad_actions(bad, message):
    with pytest.raises(ActionError, match=message):
        parse_action(bad)
