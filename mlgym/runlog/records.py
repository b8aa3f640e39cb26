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
``extra``), :class:`Result` is ``result.json`` as a typed model (the env writes it through the same class).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

__all__ = ["RECORD_TYPES", "RESULT_KEYS", "RUN_INFO_FIELDS", "SCHEMA_VERSION", "AsideRecord", "LLMRecord", "Record", "ResetRecord", "Result", "ResultRecord",
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
    tool_schemas: list[dict[str, Any]] | None = None  # their function-calling JSON schemas (what reset's info["tools"] held)
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


def _optional(default: Any = None) -> Any:
    """A field of :class:`Result` left out of ``result.json`` while it is None."""
    return dataclasses.field(default=default, metadata={"omit_none": True})


@dataclasses.dataclass(kw_only=True)
class Result:
    """``result.json`` (and a ``result`` record) as a typed model, written and read through this class.

    Fields are in ``result.json``'s order: first what grading gives (:func:`mlgym.grading.scoring.evaluate`;
    ``details``: a grader's keys beyond these), then what the env adds about the run, then ``extra``: the
    agent's and the runner's keys (agent, model, seed, ``label``, ``agent_config``, token usage...;
    :meth:`add_run_info`), in the order they were given.  To add a key the env or grading sets, declare a field
    where it belongs (``_optional()`` if it is left out while None); a key the runner sets gets a property over
    ``extra``.  ``version`` is 0 for a result written before versions existed.
    """

    # what grading gives
    task: str
    metric: str | None = None
    direction: str | None = None
    score: float | None = None
    baseline: float | None = None
    baseline_source: str | None = None
    improvement: float | None = None
    success: bool = False
    valid_submission: bool = False
    error: str | None = None
    metrics: dict[str, Any] | None = _optional()  # other metrics (absent when scoring itself failed)
    eval_seconds: float | None = _optional()
    leaderboard: dict[str, Any] | None = _optional()
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    # what the env adds
    run_id: str | None = None
    log_dir: str | None = None
    reason: str | None = None
    steps: int = 0
    reward: float = 0.0
    wall_time: float | None = None
    sandbox: str | None = None
    final_answer: str | None = None
    episode_finished: bool = False
    version: int = SCHEMA_VERSION
    status: str | None = None  # success | error | cancelled (mlgym.runlog.status); None: written before statuses
    # the agent's and the runner's keys (run_info), in the order given; typed views: label, agent_config
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def label(self) -> str | None:
        """The configuration's name (runner ``--label``; default: :func:`mlgym.runlog.status.default_label`)."""
        value = self.extra.get("label")
        return None if value is None else str(value)

    @label.setter
    def label(self, value: str | None) -> None:
        self.extra["label"] = value

    @property
    def agent_config(self) -> dict[str, Any] | None:
        """The agent's options that differ from its defaults."""
        value = self.extra.get("agent_config")
        return value if isinstance(value, dict) else None

    @agent_config.setter
    def agent_config(self, value: dict[str, Any] | None) -> None:
        self.extra["agent_config"] = value

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        """A ``result.json`` mapping (or a ``result`` record) as a model; keys that are no field go to
        ``details`` when they come before ``run_id`` (a grader's), else to ``extra``."""
        names = _field_names(cls)
        kwargs: dict[str, Any] = {}
        details: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        late = False
        for k, v in d.items():
            late = late or k == "run_id"
            if k in names:
                kwargs[k] = v
            elif k not in ("type", "time"):
                (extra if late or k in RUN_INFO_FIELDS else details)[k] = v
        kwargs.setdefault("version", 0)
        kwargs.setdefault("task", "")
        return cls(**kwargs, details=details, extra=extra)

    def add_run_info(self, info: dict[str, Any]) -> None:
        """The agent's and the runner's keys, into ``extra``; keys the result sets itself (:data:`RESULT_KEYS`)
        are left out."""
        self.extra.update((k, v) for k, v in info.items() if k not in RESULT_KEYS)

    def to_dict(self) -> dict[str, Any]:
        """The ``result.json`` mapping, keys in the fields' order."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "details":
                for k, v in value.items():
                    out.setdefault(k, v)
            elif f.name == "extra":  # the agent's keys: a grader's key of the same name gives way, a field never
                out.update((k, v) for k, v in value.items() if k not in _FIELDS)
            elif value is not None or not f.metadata.get("omit_none"):
                out[f.name] = value
        return out


def _field_names(cls: type[Any]) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls) if f.name not in ("details", "extra"))


_FIELDS = _field_names(Result)
# Keys of result.json the runner sets through run_info (``env.set_run_info``) that Result reads as typed properties.
RUN_INFO_FIELDS = frozenset({"label", "agent_config"})
# Keys of result.json the env sets; an agent's run_info cannot replace them.
RESULT_KEYS = _FIELDS | {"type", "time"}


RECORD_TYPES: dict[str, type[Record]] = {
    c.type: c for c in (ResetRecord, ResumeRecord, StepRecord, LLMRecord, AsideRecord, ResultRecord)
}


def parse_record(d: dict[str, Any]) -> Record:
    """A trace line (a dict) as its typed record; a line missing a required field raises ``TypeError``."""
    cls = RECORD_TYPES.get(str(d.get("type")))
    if cls is None:
        return Record(time=d.get("time"), extra={k: v for k, v in d.items() if k != "time"})
    return cls.from_dict(d)
