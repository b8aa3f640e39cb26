"""Starter: an MLP over each node's features and its neighbours' mean (plain torch); writes submission.csv."""

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

D = "data/arxiv"
x = torch.tensor(pd.read_csv(f"{D}/raw/node-feat.csv.gz", header=None).to_numpy(np.float32))
edges = torch.tensor(pd.read_csv(f"{D}/raw/edge.csv.gz", header=None).to_numpy().T)
y = torch.tensor(pd.read_csv(f"{D}/raw/node-label.csv.gz", header=None)[0].to_numpy())
split = {s: torch.tensor(pd.read_csv(f"{D}/split/time/{s}.csv.gz", header=None)[0].to_numpy()) for s in ("train", "valid", "test")}

n = len(x)
ei = torch.cat([edges, edges.flip(0)], 1)  # undirected
adj = torch.sparse_coo_tensor(ei, torch.ones(ei.shape[1]), (n, n)).coalesce()
deg = torch.sparse.sum(adj, 1).to_dense().clamp(min=1).unsqueeze(1)
h = torch.cat([x, torch.sparse.mm(adj, x) / deg], 1)

torch.manual_seed(0)
classes = int(y.max()) + 1
model = nn.Sequential(nn.Linear(h.shape[1], 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, classes))
opt = torch.optim.Adam(model.parameters(), lr=0.01)
epochs = 4
for epoch in range(epochs):
    for _ in range(25):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(h[split["train"]]), y[split["train"]])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(h).argmax(1)
    acc = {s: (pred[split[s]] == y[split[s]]).float().mean().item() for s in ("train", "valid")}
    print(f"Epoch {epoch}: loss {loss.item():.3f} train {acc['train']:.4f} valid {acc['valid']:.4f}")
pd.DataFrame(pred[split["test"]].numpy()).to_csv("submission.csv", index=False)
