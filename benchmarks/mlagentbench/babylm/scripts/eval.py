"""Perplexity per byte of the submitted model.pt on the hidden test split (first 200,000 bytes)."""

import math

import mab_common as C
import torch

LIMIT, CHUNK = 200_000, 512
text = b"".join(p.read_bytes() for p in sorted((C.answers_dir() / "babylm_test").glob("*.test")))[:LIMIT]
model = C.load_byte_lm("model.pt")
ids = torch.tensor(list(text))
total, count = 0.0, 0
with torch.no_grad():
    for i in range(0, len(ids) - 1, CHUNK):
        x, y = ids[i:i + CHUNK], ids[i + 1:i + CHUNK + 1]
        x = x[:len(y)]
        logits, _ = model(x[None])
        total += float(torch.nn.functional.cross_entropy(logits[0], y, reduction="sum"))
        count += len(y)
nll = total / max(count, 1)
if not math.isfinite(nll):
    C.fail("the model's log-likelihood is not finite")
C.emit(math.exp(nll), nll_per_byte=nll)
