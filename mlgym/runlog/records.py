"""The trace's record types: one definition per ``type`` of line in ``trace.jsonl``.

Writers build these and hand them to :meth:`mlgym.runlog.trace.TraceWriter.append`; readers get
the same keys back as dicts (:func:`mlgym.runlog.trace.load`).  ``to_dict`` puts ``type`` first,
leaves out optional fields that are None, and merges ``extra`` (free-form keys such as the
runner's ``agent``/``model`` or a family's metrics) without letting it replace a field.

=========  =============================================================================
reset      the episode started: task, seed, sandbox, tools, limits, the initial ``files``
resume     a killed episode goes on: how many steps and seconds it had used
step       one ``env.step``: action, observation, ``reward`` (exactly what ``step``
           returned), error flag, changed ``files``, timings; ``validation`` in dense mode
llm        one model call of the agent or of an LLM-backed tool
aside      an agent's request between steps that is not a step (the research log of the research
           agent's mlgym profile: Append Summary / Retrieval): tool, arguments, observation
result     the episode's end: the scored result, also written to ``result.json``
=========  =============================================================================

Versions: the ``reset`` and ``resume`` records and ``result.json`` carry ``version``
(:data:`SCHEMA_VERSION`); a trace written before versions existed reads as version 0.
Reading back: :func:`parse_record` turns a trace line into its record class (unknown keys
land in ``extra``; an unknown ``type`` gives a plain :class:`Record` holding everything in
``extra``), :class:`Result` is ``result.json`` as a typed model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

__all__ = ["RECORD_TYPES", "SCHEMA_VERSION", "AsideRecord", "LLMRecord", "Record", "ResetRecord", "Result", "ResultRecord",
           "ResumeRecord", "StepRecord", "parse_record"]

SCHEMA_VERSION = 1  # of trace.jsonl's records and result.json


@dataclasses.dataclass(kw_only=True)
class Record:
    type: ClassVar[str] = ""
    time: float | None = None  # set by the writer when None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and (value is not None or f.metadata.get("keep_none")):
                out[f.name] = value
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        """The record a trace line holds (see :func:`parse_record`); keys that are no field go to ``extra``."""
        names = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "version" in names and "version" not in d:
            kwargs["version"] = 0  # written before versions existed
        extra = {k: v for k, v in d.items() if k not in names and k != "type"}
        return cls(**kwargs, extra=extra)


def _kept(default: Any = None) -> Any:
    """A field written even when it is None (readers expect the key)."""
    return dataclasses.field(default=default, metadata={"keep_none": True})


@dataclasses.dataclass(kw_only=True)
class ResetRecord(Record):
    type: ClassVar[str] = "reset"
    task: str
    run_id: str
    version: int = SCHEMA_VERSION
    seed: int | None = _kept()
    task_root: str | None = None
    sandbox: str | None = None
    workspace: str | None = None
    tools: list[str] | None = None
    limits: dict[str, Any] | None = None
    quota: str | None = None
    files: dict[str, str | None] = dataclasses.field(default_factory=dict)
    observation: str | None = None  # the first observation, as reset returned it
    task_description: str | None = None  # the same without the tool list (reset's info)


@dataclasses.dataclass(kw_only=True)
class ResumeRecord(Record):
    type: ClassVar[str] = "resume"
    run_id: str
    version: int = SCHEMA_VERSION
    steps_so_far: int
    elapsed: float


@dataclasses.dataclass(kw_only=True)
class StepRecord(Record):
    type: ClassVar[str] = "step"
    step: int
    action: dict[str, Any]  # {"name": tool or None, "arguments": dict or None}
    observation: str
    reward: float
    duration: float | None = _kept()
    error: bool = False
    files: dict[str, str | None] = dataclasses.field(default_factory=dict)
    elapsed: float | None = None
    validation: dict[str, Any] | None = None  # dense mode: the validation score after this step
    error_type: str | None = None
    traceback: str | None = None
    snapshot_error: str | None = None
    raw_action: str | None = None


@dataclasses.dataclass(kw_only=True)
class LLMRecord(Record):
    type: ClassVar[str] = "llm"
    model: str
    purpose: str
    completion: str
    prompt: list[dict[str, Any]] | None = None  # left out with --small-trace ...
    prompt_sha256: str | None = None  # ... which stores this instead
    tools: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    priced: bool = False
    latency: float = 0.0
    cached: bool = False
    usage_source: str = "provider"


@dataclasses.dataclass(kw_only=True)
class AsideRecord(Record):
    """An action run between steps, not counted as one (``after_step``: the steps done before it)."""

    type: ClassVar[str] = "aside"
    after_step: int
    action: dict[str, Any]  # {"name", "arguments"}
    observation: str
    error: bool = False
    duration: float | None = None


@dataclasses.dataclass(kw_only=True)
class ResultRecord(Record):
    """The scored result; ``result`` is the same mapping as ``result.json``."""

    type: ClassVar[str] = "result"
    result: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = {"type": self.type, **self.result}
        if self.time is not None:
            out["time"] = self.time
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultRecord:
        return cls(result={k: v for k, v in d.items() if k not in ("type", "time")}, time=d.get("time"))


@dataclasses.dataclass(kw_only=True)
class Result:
    """``result.json`` (and a ``result`` record) as a typed model; ``extra``: the agent's keys (agent, model,
    token usage...) and a family's; ``version`` 0 for a result written before versions existed."""

    task: str
    reward: float = 0.0
    score: float | None = None
    baseline: float | None = None
    improvement: float | None = None
    success: bool = False
    valid_submission: bool = False
    error: str | None = None
    metric: str | None = None
    direction: str | None = None
    run_id: str | None = None
    log_dir: str | None = None
    reason: str | None = None
    steps: int = 0
    wall_time: float | None = None
    sandbox: str | None = None
    final_answer: str | None = None
    episode_finished: bool = False
    status: str | None = None  # success | error | cancelled (mlgym.runlog.status); None: written before statuses
    label: str | None = None  # the configuration's name (runner --label; default: mlgym.runlog.status.default_label)
    agent_config: dict[str, Any] | None = None  # the agent's options that differ from its defaults
    version: int = SCHEMA_VERSION
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        names = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs.setdefault("version", 0)
        kwargs.setdefault("task", "")
        return cls(**kwargs, extra={k: v for k, v in d.items() if k not in names and k != "type"})

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **out}


RECORD_TYPES: dict[str, type[Record]] = {
    c.type: c for c in (ResetRecord, ResumeRecord, StepRecord, LLMRecord, AsideRecord, ResultRecord)
}


def parse_record(d: dict[str, Any]) -> Record:
    """A trace line (a dict) as its typed record; a line missing a required field raises ``TypeError``."""
    cls = RECORD_TYPES.get(str(d.get("type")))
    if cls is None:
        return Record(time=d.get("time"), extra={k: v for k, v in d.items() if k != "time"})
    return cls.from_dict(d)
