"""Score submission.csv (id,label) against answers/test_labels.csv: accuracy."""

import argparse
import csv
import json
import sys


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", default="answers")
    ap.add_argument("--submission", default="submission.csv")
    a = ap.parse_args()
    with open(f"{a.answers}/test_labels.csv") as f:
        truth = {row["id"]: row["label"] for row in csv.DictReader(f)}
    try:
        with open(a.submission, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"id", "label"} <= set(reader.fieldnames):
                fail(f"submission.csv needs columns id,label; found {reader.fieldnames}")
            pred = {}
            for row in reader:
                pred[row["id"].strip()] = row["label"].strip()
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        fail(f"cannot read submission.csv: {e}")
    missing = set(truth) - set(pred)
    if missing:
        fail(f"submission.csv lacks {len(missing)} of the {len(truth)} test ids")
    def norm(v: str) -> str:
        try:
            return str(int(float(v)))
        except ValueError:
            return v
    correct = sum(norm(pred[i]) == truth[i] for i in truth)
    print(json.dumps({"score": correct / len(truth)}))


if __name__ == "__main__":
    main()
