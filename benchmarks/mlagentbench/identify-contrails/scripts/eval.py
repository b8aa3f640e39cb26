"""Mean Dice (smooth 1e-6) over the test records, predictions run-length decoded (MLAgentBench's get_score)."""

import mab_common as C
import numpy as np

ans = C.answers_dir() / "test_answer"
sub = C.read_submission(dtype={"record_id": str, "encoded_pixels": str}, keep_default_na=False)
for c in ("record_id", "encoded_pixels"):
    if c not in sub.columns:
        C.fail(f"submission.csv has no column {c!r}")
preds = dict(zip(sub["record_id"].astype(str).str.strip(), sub["encoded_pixels"]))
scores = []
for rec in sorted(p.name for p in ans.iterdir()):
    truth = np.load(ans / rec / "human_pixel_masks.npy")[:, :, 0]
    if rec not in preds:
        C.fail(f"submission.csv has no row for record_id {rec}")
    scores.append(C.dice(C.rle_decode(preds[rec], truth.shape), truth))
C.emit(float(np.mean(scores)))
