"""The catalog: task families by kind, and what they add to the layers above.

A family is found by its ``kind``:

* the families installed packages declare as entry points in the group ``mlgym.families``
  (mlgym's own are in its ``setup.cfg``: ``kaggle = mlgym.families.kaggle.family:KaggleFamily``);
* :func:`register_family` (``kind`` -> a class, an instance or a ``"module:Class"`` string)
  for families defined at run time;
* a ``kind: "package.module:Class"`` in a task YAML, loaded lazily.

The core never names a family.  What a family does beyond :class:`~mlgym.tasks.spec.Family`
(and evaluation, :class:`mlgym.grading.base.Evaluates`) it offers in one of two ways:

* as a *capability* of the family object, a runtime-checkable protocol checked with
  ``isinstance`` over :func:`families`: :class:`RowSource` (tasks that are dataset rows), :class:`FolderFormat`
  (task folders in another project's layout; :class:`FolderAliases`: their aliases), :class:`Oracle` (a reference solution),
  ``mlgym.families.base.RunExporter`` (files made from every episode's trace);
* as a *plugin* in an entry-point group ``mlgym.<name>`` (:func:`plugins`), for code that
  lives in a layer above the family (and must not be imported by it): ``bench_adapters``
  (``mlgym.families.base.BenchAdapter``: grid files in another project's format, results
  files), ``commands`` (``mlgym`` subcommands: ``name = "module:main"``) and ``run_importers``
  (:class:`RunImporter`: another project's run logs for ``mlgym eval``) and ``results_readers``
  (:class:`ResultsReader`: another project's published results files, rows beside the agents').
"""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mlgym.core.errors import TaskError
from mlgym.tasks.spec import Family, TaskSpec, install_catalog

__all__ = ["GROUP", "Family", "FolderAliases", "FolderFormat", "Oracle", "ResultsReader", "RowSource", "RunImporter", "families", "family", "kinds",
           "plugins", "register_family", "register_plugin", "row_sources", "row_task"]

# Entry-point groups "mlgym.<suffix>" (spelt from parts: a whole "mlgym.x" string reads as a module
# name to the import checks).  GROUP: the families themselves.
GROUP = f"mlgym.{'families'}"
log = logging.getLogger(__name__)

_REGISTERED: dict[str, object] = {}
_PLUGINS: dict[str, dict[str, object]] = {}  # register_plugin


@runtime_checkable
class RowSource(Protocol):
    """Tasks that are rows of a dataset, not YAML entries: ``<kind>-<row id>`` names one."""

    def row_task(self, name: str) -> TaskSpec | None:
        """The task ``name``; None for a name that is not this family's; TaskError for a bad one."""
        ...

    def task_names(self) -> list[str]:
        """Every task (loads the rows)."""
        ...

    def rows_note(self) -> str | None:
        """None when listing the rows is cheap (on disk), else why they are not listed by default."""
        ...


@runtime_checkable
class FolderFormat(Protocol):
    def folder_format(self) -> tuple[str, str]:
        """``(marker, kind)``: a folder holding ``scripts/<marker>`` (and no task.yaml) is a task
        that family ``kind`` reads from the marker file."""
        ...


@runtime_checkable
class FolderAliases(Protocol):
    def folder_aliases(self, root: Path) -> dict[str, str]:
        """Aliases declared in ``root`` (e.g. a ``tasks.json``) for the folders this family's
        :class:`FolderFormat` marks: alias -> folder name."""
        ...


@runtime_checkable
class Oracle(Protocol):
    def oracle(self, task: TaskSpec) -> tuple[dict[str, str], str]:
        """A reference solution: files to write (workspace-relative) and the Final Answer."""
        ...


@runtime_checkable
class RunImporter(Protocol):
    """Another project's run logs read as mlgym runs (``mlgym eval --import-<fmt> DIR``): a
    plugin of group ``run_importers``."""

    run_format: str  # the flag's suffix, e.g. "mlagentbench"
    run_label: str  # the project's name in messages, e.g. "MLAgentBench"

    def find_runs(self, root: str | Path) -> list[Path]: ...

    def import_runs(self, root: str | Path, dest: Path, *, default_task: str | None = None) -> list[Path]: ...

    def task_name(self, name: str) -> str:
        """The mlgym task an outside task name means (itself when there is none)."""
        ...


@runtime_checkable
class ResultsReader(Protocol):
    """Another project's results files (AMLB's ``results.csv``...) as rows beside mlgym's runs
    (``mlgym eval RUNS --<fmt>-results FILE``): a plugin of group ``results_readers``."""

    results_format: str  # the flag's prefix, e.g. "amlb" (--amlb-results)
    results_label: str  # the project's name in messages, e.g. "AMLB"

    def read_results(self, path: Path) -> list[dict[str, Any]]:
        """One dict per result: task, fold, framework, metric, score (the metric's own value), direction
        ("higher"/"lower"), metrics ({name: value}, every metric the row has), constraint, source (file:line);
        one-line MLGymError for a file that is not one."""
        ...

    def run_key(self, task: str) -> tuple[str, int, str] | None:
        """``(task, fold, constraint)`` of an mlgym task id in the files' terms; None for another family's task."""
        ...


def register_plugin(group: str, name: str, obj: object) -> None:
    """Add ``obj`` (or a ``"module:attr"`` string) to plugin group ``group`` in this process."""
    _PLUGINS.setdefault(group, {})[name] = obj


def plugins(group: str) -> list[tuple[str, object]]:
    """``(name, object)`` of the entry points in ``mlgym.<group>`` (by name; ones that do not
    load are logged and left out), then those of :func:`register_plugin`."""
    found: dict[str, object] = {}
    for ep in sorted(metadata.entry_points(group=f"mlgym.{group}"), key=lambda e: e.name):
        try:
            found.setdefault(ep.name, ep.load())
        except (ImportError, AttributeError) as e:
            log.warning("plugin %s of %s left out: %s", ep.name, group, e)
    for name, obj in _PLUGINS.get(group, {}).items():
        found[name] = _load(obj, name) if isinstance(obj, str) else obj
    return list(found.items())


def register_family(kind: str, obj: object) -> None:
    """Make ``kind`` name ``obj`` (a family class, instance or ``"module:Class"``) in this process."""
    _REGISTERED[kind] = obj
    _installed.cache_clear()
    family.cache_clear()
    _folder_markers.cache_clear()
    install_catalog(_Catalog())


@lru_cache(maxsize=None)
def _installed() -> dict[str, str]:
    """kind -> ``"module:Class"`` of every entry point in :data:`GROUP` (first one wins)."""
    out: dict[str, str] = {}
    for ep in metadata.entry_points(group=GROUP):
        out.setdefault(ep.name, ep.value)
    return out


def kinds() -> list[str]:
    """Every family known by name: installed ones, then registered ones."""
    return list(dict.fromkeys([*_installed(), *_REGISTERED]))


def _load(target: str, kind: str) -> object:
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise TaskError(f"unknown family {kind!r}; built in: {', '.join(kinds())}, or give 'package.module:Class'")
    try:
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise TaskError(f"cannot load family {kind!r}: {e}") from None
    return obj


@lru_cache(maxsize=None)
def family(kind: str) -> Family:
    """The family named ``kind``: an installed or registered name, or ``"package.module:Class"``."""
    named = kind in _REGISTERED or kind in _installed()
    obj = _REGISTERED.get(kind, _installed().get(kind, kind))
    if isinstance(obj, str):
        obj = _load(obj, kind)
    inst = obj() if isinstance(obj, type) else obj
    if not isinstance(inst, Family):
        raise TaskError(f"family {kind!r} ({obj!r}) lacks the TaskFamily methods")
    if named and inst.kind != kind:
        raise TaskError(f"family {obj!r} says its kind is {inst.kind!r}, not {kind!r}")
    return inst


def families() -> list[Family]:
    """Every family known by name that loads (one that does not is logged and left out)."""
    out = []
    for kind in kinds():
        try:
            out.append(family(kind))
        except TaskError as e:
            log.warning("family %s left out: %s", kind, e)
    return out


def row_sources() -> list[tuple[str, RowSource]]:
    """``(kind, family)`` of the families whose tasks are dataset rows."""
    return [(f.kind, f) for f in families() if isinstance(f, RowSource)]


def row_task(name: str) -> TaskSpec | None:
    """The task ``name`` if it is a row family's (see :class:`RowSource`), else None."""
    for _kind, src in row_sources():
        spec = src.row_task(name)
        if spec is not None:
            return spec
    return None


@lru_cache(maxsize=None)
def _folder_markers() -> dict[str, str]:
    return dict(f.folder_format() for f in families() if isinstance(f, FolderFormat))


class _Catalog:
    """What :class:`~mlgym.tasks.spec.TaskSpec` asks (see :func:`mlgym.tasks.spec.install_catalog`)."""

    def family(self, kind: str) -> Family:
        return family(kind)

    def row_task(self, name: str) -> TaskSpec | None:
        return row_task(name)

    def folder_markers(self) -> dict[str, str]:
        return _folder_markers()

    def folder_aliases(self, root: Path) -> dict[str, str]:
        """Aliases declared in ``root`` for its marked folders, by the families reading them
        (the :class:`FolderAliases` capability beside :class:`FolderFormat`)."""
        out: dict[str, str] = {}
        for f in families():
            if isinstance(f, FolderAliases):
                for alias, folder in f.folder_aliases(root).items():
                    out.setdefault(str(alias), str(folder))
        return out


install_catalog(_Catalog())
