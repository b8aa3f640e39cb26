"""An OpenML cache in openml-python's own on-disk format, built from AMLB's test resources.

``mlgym/families/amlb/data/`` (shipped, MIT) holds one AMLB split of kc2, iris and cholesterol as ARFF.  This
writes what ``openml.tasks.get_task(id, download_splits=True, download_data=True)`` leaves
in its cache (``<root>/org/openml/www/tasks/<id>/{task.xml,datasplits.arff}`` and
``datasets/<did>/{description.xml,features.xml,dataset.arff}``), so the ``openml`` loading
path runs offline.  The dataset is train + test rows; fold 0 is AMLB's split, fold k > 0
takes its test rows from the k-th block of the training rows (made here, not OpenML's).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from xml.sax.saxutils import escape

import arff

SHARED = Path(__file__).resolve().parents[2] / "mlgym" / "families" / "amlb" / "data"  # AMLB's test ARFFs, shipped (MIT)
# name -> (OpenML task id, dataset id, target, task type id)
TEST_TASKS = {"kc2": (3913, 1063, "problems", 1), "iris": (59, 61, "class", 1), "cholesterol": (2295, 204, "chol", 2)}


def write_cache(root: Path, names: tuple[str, ...] = tuple(TEST_TASKS), folds: int = 2, shared: Path = SHARED) -> Path:
    """Fill ``root`` (an ``OPENML_CACHE_DIR``) with the tasks ``names``; returns ``root``."""
    base = root / "org" / "openml" / "www"
    for name in names:
        tid, did, target, ttype = TEST_TASKS[name]
        tr = arff.load(open(shared / f"{name}_train.arff"))
        te = arff.load(open(shared / f"{name}_test.arff"))
        rows = tr["data"] + te["data"]
        n_tr, n_te = len(tr["data"]), len(te["data"])
        ddir = base / "datasets" / str(did)
        ddir.mkdir(parents=True, exist_ok=True)
        text = arff.dumps({"relation": name, "attributes": tr["attributes"], "data": rows, "description": ""})
        (ddir / "dataset.arff").write_text(text)
        md5 = hashlib.md5(text.encode()).hexdigest()
        (ddir / "description.xml").write_text(
            '<oml:data_set_description xmlns:oml="http://openml.org/openml">\n'
            f"  <oml:id>{did}</oml:id>\n  <oml:name>{name}</oml:name>\n  <oml:version>1</oml:version>\n"
            f"  <oml:description>{name} (from AMLB's test resources)</oml:description>\n  <oml:format>ARFF</oml:format>\n"
            f"  <oml:upload_date>2014-04-06T23:22:13</oml:upload_date>\n  <oml:licence>Public</oml:licence>\n"
            f"  <oml:url>https://api.openml.org/data/v1/download/{did}/{name}.arff</oml:url>\n  <oml:file_id>{did}</oml:file_id>\n"
            f"  <oml:default_target_attribute>{target}</oml:default_target_attribute>\n  <oml:status>active</oml:status>\n"
            f"  <oml:md5_checksum>{md5}</oml:md5_checksum>\n</oml:data_set_description>\n")
        feats = []
        for i, (attr, kind) in enumerate(tr["attributes"]):
            missing = sum(r[i] is None for r in rows)
            nominal = "".join(f"    <oml:nominal_value>{escape(str(v))}</oml:nominal_value>\n" for v in kind) if isinstance(kind, list) else ""
            dtype = "nominal" if isinstance(kind, list) else "string" if kind == "STRING" else "numeric"
            feats.append(f"  <oml:feature>\n    <oml:index>{i}</oml:index>\n    <oml:name>{escape(attr)}</oml:name>\n"
                         f"    <oml:data_type>{dtype}</oml:data_type>\n{nominal}"
                         f"    <oml:is_target>{'true' if attr == target else 'false'}</oml:is_target>\n"
                         f"    <oml:is_ignore>false</oml:is_ignore>\n    <oml:is_row_identifier>false</oml:is_row_identifier>\n"
                         f"    <oml:number_of_missing_values>{missing}</oml:number_of_missing_values>\n  </oml:feature>\n")
        (ddir / "features.xml").write_text('<oml:data_features xmlns:oml="http://openml.org/openml">\n' + "".join(feats) + "</oml:data_features>\n")
        tdir = base / "tasks" / str(tid)
        tdir.mkdir(parents=True, exist_ok=True)
        kind_name = "Supervised Classification" if ttype == 1 else "Supervised Regression"
        (tdir / "task.xml").write_text(
            '<oml:task xmlns:oml="http://openml.org/openml">\n'
            f"  <oml:task_id>{tid}</oml:task_id>\n  <oml:task_name>Task {tid}: {name} ({kind_name})</oml:task_name>\n"
            f"  <oml:task_type_id>{ttype}</oml:task_type_id>\n  <oml:task_type>{kind_name}</oml:task_type>\n"
            '  <oml:input name="source_data">\n    <oml:data_set>\n'
            f"      <oml:data_set_id>{did}</oml:data_set_id>\n      <oml:target_feature>{target}</oml:target_feature>\n"
            '    </oml:data_set>\n  </oml:input>\n  <oml:input name="estimation_procedure">\n    <oml:estimation_procedure>\n'
            "      <oml:id>1</oml:id>\n      <oml:type>crossvalidation</oml:type>\n"
            f"      <oml:data_splits_url>https://api.openml.org/api_splits/get/{tid}/Task_{tid}_splits.arff</oml:data_splits_url>\n"
            '      <oml:parameter name="number_repeats">1</oml:parameter>\n'
            f'      <oml:parameter name="number_folds">{folds}</oml:parameter>\n'
            '      <oml:parameter name="percentage"></oml:parameter>\n      <oml:parameter name="stratified_sampling">true</oml:parameter>\n'
            "    </oml:estimation_procedure>\n  </oml:input>\n</oml:task>\n")
        split_rows = []
        for fold in range(folds):
            test = set(range(n_tr, n_tr + n_te)) if fold == 0 else set(range((fold - 1) * n_te, fold * n_te))
            split_rows += [["TEST" if r in test else "TRAIN", r, 0, fold] for r in range(n_tr + n_te)]
        (tdir / "datasplits.arff").write_text(arff.dumps({
            "relation": f"{name}_splits", "description": "",
            "attributes": [("type", ["TRAIN", "TEST"]), ("rowid", "INTEGER"), ("repeat", "INTEGER"), ("fold", "INTEGER")],
            "data": split_rows}))
    return root
