"""How long `env.reset()` of a multimodal task takes with 10 vs 10,000 (or more) image files.

    .venv/bin/python scripts/bench_multimodal_reset.py [--sizes 10 10000 10 10000] [--repeat 5]

Each size is a custom-loader task in a scratch folder (a user's folder in AutoGluon-Bench's
loader format) whose rows name that many distinct PNG files.  Its data is prepared once
(the images are gathered into the data cache then); the resets are timed after one warm-up.
For comparison it also times what the host-side hard links of every image would cost per
reset (mlgym.tasks.data.link_tree, what a mirrored mount does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

LOADER = '''
import pandas as pd

class Many:
    def __init__(self, dataset_name, split, dataset_config_file=None):
        n = N
        rows = {"train": range(0, n - n // 5), "test": range(n - n // 5, n)}.get(split)
        self.data = None if rows is None else pd.DataFrame({
            "img": [f"imgs/{i}.png" for i in rows], "size": [float(i % 7) for i in rows], "y": [i % 2 for i in rows]})
    problem_type = "binary"
    metric = "acc"
    feature_columns = ["img", "size"]
    label_columns = ["y"]
    image_columns = ["img"]
'''


def make_task(root: Path, n: int) -> str:
    from PIL import Image

    folder = root / f"many{n}"
    (folder / "imgs").mkdir(parents=True)
    first = folder / "imgs" / "0.png"
    Image.new("L", (8, 8), 0).save(first)
    for i in range(1, n):
        Image.new("L", (8, 8), i % 256).save(folder / "imgs" / f"{i}.png")  # distinct files, as a real set has
    (folder / "loader.py").write_text(LOADER.replace("n = N", f"n = {n}"))
    (folder / "d.yaml").write_text(f"many{n}:\n  url: unused\n  label_columns: [y]\n  metric: acc\n  problem_type: binary\n")
    (root / f"many{n}.yaml").write_text(f"kind: multimodal\nname: many{n}\ndataset_name: many{n}\ncustom_dataloader:\n"
                                        f"  dataloader_file: many{n}/loader.py\n  class_name: Many\n  dataset_config_file: many{n}/d.yaml\n")
    return f"many{n}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 10000, 10, 10000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlgym-mm-reset-") as tmp:
        root = Path(tmp)
        os.environ["MLGYM_BENCHMARKS"] = str(root / "bench")
        os.environ["MLGYM_DATA_DIR"] = str(root / "data")
        (root / "bench").mkdir()
        names = {n: make_task(root / "bench", n) for n in dict.fromkeys(args.sizes)}
        from mlgym.tasks.data import link_tree, prepare
        from mlgym.env.core import MLGymEnv
        from mlgym.tasks.spec import TaskSpec

        for k, n in enumerate(args.sizes):  # a size given twice runs twice (alternate them on a busy machine)
            name = names[n]
            t0 = time.monotonic()
            data = prepare(TaskSpec.load(name))
            prep = time.monotonic() - t0
            env = MLGymEnv(name, log_dir=root / f"log{k}", work_dir=root / "ws", python=sys.executable)
            times = []
            try:
                for i in range(args.repeat + 1):
                    t0 = time.monotonic()
                    env.reset(seed=i)
                    if i:  # the first reset warms caches
                        times.append(time.monotonic() - t0)
                sandbox = env.sandbox.name if env.sandbox else "?"
            finally:
                env.close()
            t0 = time.monotonic()
            link_tree(data.dir / "images", root / f"links{k}")
            links = time.monotonic() - t0
            print(f"{n:>7} images: prepare {prep:6.2f}s once; reset median {statistics.median(times):.3f}s "
                  f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} resets, {sandbox}); "
                  f"hard-linking them per reset would add {links:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
