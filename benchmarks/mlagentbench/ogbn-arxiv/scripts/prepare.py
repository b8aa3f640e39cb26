"""ogbn-arxiv in OGB's raw layout (from ogb's downloader, or raw/arxiv/ placed by hand); test labels hidden."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import pandas as pd  # noqa: E402

NEEDED = ["raw/node-feat.csv.gz", "raw/edge.csv.gz", "raw/node-label.csv.gz", "split/time/test.csv.gz"]
raw, public, private = C.prepare_args()
src = raw / "arxiv"
if not all((src / n).is_file() for n in NEEDED):
    try:
        from ogb.nodeproppred import NodePropPredDataset
    except ImportError:
        C.needs_files(f"pip install ogb (to download ogbn-arxiv), or put OGB's arxiv folder (raw/, split/time/) at {src}")
    NodePropPredDataset(name="ogbn-arxiv", root=str(raw))
    src = raw / "ogbn_arxiv"
dst = public / "arxiv"
for n in ["raw/node-feat.csv.gz", "raw/edge.csv.gz", "split/time/train.csv.gz", "split/time/valid.csv.gz", "split/time/test.csv.gz"]:
    (dst / n).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / n, dst / n)
labels = pd.read_csv(src / "raw/node-label.csv.gz", header=None)[0]
test = pd.read_csv(src / "split/time/test.csv.gz", header=None)[0]
pd.DataFrame({"node": test, "label": labels[test].to_numpy()}).to_csv(private / "answer.csv", index=False)
hidden = labels.copy()
hidden[test] = -1
hidden.to_frame().to_csv(dst / "raw/node-label.csv.gz", header=False, index=False)
