"""Run the agent's inference.py with the model, time it from outside, check its greedy output.

Timed on hidden inputs: the prompts the run sees are drawn here, at eval time (as many as the
public prompts.txt holds, of the same lengths, fresh random words), so output memoized for the
prompts the agent saw fails the check.  The agent's code runs in its own process; the clock is ours.
"""

import json
import os
import random
import subprocess
import sys
import time

import mab_common as C

NEW = 32
ans = C.answers_dir()
os.makedirs("data", exist_ok=True)
with open(ans / "model.pt", "rb") as src, open(os.path.join("data", "model.pt"), "wb") as dst:
    dst.write(src.read())
public = (ans / "prompts.txt").read_text().splitlines()
rng = random.Random(int.from_bytes(os.urandom(8), "little"))
WORDS = "the of a model token fast slow river light number small house green time over under".split()


def fresh(length: int) -> str:
    words: list[str] = []
    while len(" ".join(words)) < max(1, length):
        words.append(rng.choice(WORDS))
    return " ".join(words)[: max(1, length)].strip() or "a"


prompts = [fresh(len(p)) for p in public] or [fresh(20)]
if any(p in public for p in prompts):  # never one the agent has seen
    prompts = [p + " " + str(rng.randrange(10 ** 6)) for p in prompts]
with open(os.path.join("data", "prompts.txt"), "w") as f:
    f.write("\n".join(prompts) + "\n")
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
model = C.load_byte_lm(str(ans / "model.pt"))
for i, p in enumerate(prompts):
    if not isinstance(got, list) or i >= len(got) or got[i] != C.greedy(model, p.encode(), NEW):
        C.fail(f"generations.json differs from greedy decoding for prompt {i + 1}")
C.emit(len(prompts) * NEW / seconds, seconds=seconds)
