"""Baseline: a small byte-level GRU language model on BabyLM's 10M track; saves model.pt."""

import glob
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DIM, LAYERS, SEQ, BATCH = 128, 1, 128, 32


class ByteLM(nn.Module):  # the evaluation rebuilds exactly these modules from model.pt's dim and layers
    def __init__(self, dim, layers):
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(256, dim), nn.GRU(dim, dim, layers, batch_first=True), nn.Linear(dim, 256)

    def forward(self, x, h=None):
        y, h = self.rnn(self.emb(x), h)
        return self.out(y), h


def load(pattern):
    return torch.tensor(list(b"".join(open(p, "rb").read() for p in sorted(glob.glob(pattern)))))


train, dev = load("data/babylm_data/babylm_10M/*.train"), load("data/babylm_data/babylm_dev/*.dev")[:100_000]
STEPS = max(5, min(300, 4 * len(train) // (SEQ * BATCH)))  # tiny data, few steps
torch.manual_seed(0)
model = ByteLM(DIM, LAYERS)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(STEPS):
    starts = torch.randint(0, len(train) - SEQ - 1, (BATCH,))
    x = torch.stack([train[s:s + SEQ] for s in starts])
    y = torch.stack([train[s + 1:s + SEQ + 1] for s in starts])
    loss = F.cross_entropy(model(x)[0].reshape(-1, 256), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 100 == 0:
        print(f"step {step}: loss {loss.item():.3f}")
with torch.no_grad():
    n = min(len(dev) - 1, 5_000)
    dev_loss = F.cross_entropy(model(dev[:n][None])[0][0], dev[1:n + 1]).item()
print(f"dev perplexity per byte: {math.exp(dev_loss):.3f}")
torch.save({"dim": DIM, "layers": LAYERS, "state_dict": model.state_dict()}, "model.pt")
