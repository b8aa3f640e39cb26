"""Greedy generation with a small causal LM; prints the speed and writes generations.json.

Deliberately naive: every new byte re-runs the model over the whole sequence.
"""

import json
import time

import torch
import torch.nn as nn

NEW = 32


class ByteLM(nn.Module):
    def __init__(self, dim, layers):
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(256, dim), nn.GRU(dim, dim, layers, batch_first=True), nn.Linear(dim, 256)

    def forward(self, x, h=None):
        y, h = self.rnn(self.emb(x), h)
        return self.out(y), h


blob = torch.load("data/model.pt", weights_only=True)
model = ByteLM(blob["dim"], blob["layers"])
model.load_state_dict(blob["state_dict"])
model.eval()
prompts = open("data/prompts.txt").read().splitlines()
start = time.time()
generations = []
with torch.no_grad():
    for p in prompts:
        seq = list(p.encode())
        out = []
        for _ in range(NEW):
            logits, _ = model(torch.tensor([seq]))
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            seq.append(nxt)
        generations.append(out)
elapsed = time.time() - start
print(f"Average per token generation time: {elapsed / (NEW * len(prompts)):.6f} s")
json.dump(generations, open("generations.json", "w"))
