"""Time the agent's Conv2DLayer.forward from outside its process and check its output.

A child process imports train.py and says "ready"; only then are fresh random inputs
written and "go" sent, so nothing can be computed ahead; the parent's clock runs from
"go" to "done".  Best of 3.  The output must match our own (vectorised) convolution.
"""

import json
import os
import subprocess
import sys
import time

import mab_common as C
import numpy as np

CHILD = r'''
import importlib.util, sys
import numpy as np
spec = importlib.util.spec_from_file_location("agent_train", "train.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
layer = mod.Conv2DLayer(3, 8, 3, 2, 2, "relu")
print("ready", flush=True)
for line in sys.stdin:
    d = np.load("inputs.npz")
    layer.kernel_matrices, layer.biases = d["kernel"].copy(), d["bias"].copy()
    np.save("out.npy", np.asarray(layer.forward(d["x"].copy()), dtype=float))
    print("done", flush=True)
'''


def reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int = 2, pad: int = 2) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = kernel.shape[0]
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # b,h,w,c,k,k
    out = np.einsum("bhwcij,ijcf->bhwf", win, kernel) + bias.reshape(1, 1, 1, -1)
    return np.maximum(out, 0)


ans = C.answers_dir()
SHAPE = (32, 64, 64, 3)  # MLAgentBench's batch; data prepared before input_shape.json existed has none
if (ans / "input_shape.json").is_file():
    SHAPE = tuple(int(v) for v in json.loads((ans / "input_shape.json").read_text()))
with open("child.py", "w") as f:
    f.write(CHILD)
proc = subprocess.Popen([sys.executable, "child.py"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
assert proc.stdin is not None and proc.stdout is not None
if proc.stdout.readline().strip() != "ready":
    C.fail("train.py could not be imported or Conv2DLayer(3, 8, 3, 2, 2, 'relu') failed")
rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
times = []
for _ in range(3):
    x, kernel, bias = rng.standard_normal(SHAPE), rng.standard_normal((3, 3, 3, 8)), rng.standard_normal((1, 1, 1, 8))
    if os.path.exists("out.npy"):
        os.unlink("out.npy")
    np.savez("inputs.npz", x=x, kernel=kernel, bias=bias)
    t0 = time.perf_counter()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    ok = proc.stdout.readline().strip() == "done"
    times.append(time.perf_counter() - t0)
    if not ok:
        C.fail("Conv2DLayer.forward failed (the child process ended without an output)")
    try:
        out = np.load("out.npy", allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        C.fail(f"forward's output could not be read: {e}")
    want = reference(x, kernel, bias)
    if out.shape != want.shape or not np.allclose(out, want, rtol=1e-6, atol=1e-6):
        C.fail(f"forward's output differs from the convolution it must compute (shape {out.shape}, want {want.shape})")
proc.stdin.close()
proc.wait(timeout=30)
C.emit(min(times), mean_seconds=float(np.mean(times)))
