"""Run the agent's inference.py with the model, time it from outside, check its greedy output."""

import json
import os
import subprocess
import sys
import time

import mab_common as C

NEW = 32
ans = C.answers_dir()
os.makedirs("data", exist_ok=True)
for f in ("model.pt", "prompts.txt"):
    with open(ans / f, "rb") as src, open(os.path.join("data", f), "wb") as dst:
        dst.write(src.read())
t0 = time.perf_counter()
proc = subprocess.run([sys.executable, "inference.py"], capture_output=True, text=True, timeout=240)
seconds = time.perf_counter() - t0
if proc.returncode != 0:
    C.fail(f"inference.py failed: {(proc.stderr.strip().splitlines() or ['exit ' + str(proc.returncode)])[-1]}")
try:
    with open("generations.json") as f:
        got = json.load(f)
except (OSError, ValueError) as e:
    C.fail(f"inference.py wrote no readable generations.json ({e})")
prompts = (ans / "prompts.txt").read_text().splitlines()
model = C.load_byte_lm(str(ans / "model.pt"))
for i, p in enumerate(prompts):
    if not isinstance(got, list) or i >= len(got) or got[i] != C.greedy(model, p.encode(), NEW):
        C.fail(f"generations.json differs from greedy decoding for prompt {i + 1}")
C.emit(len(prompts) * NEW / seconds, seconds=seconds)
