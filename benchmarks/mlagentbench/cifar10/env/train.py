"""Starter: a small CNN on CIFAR-10 in plain torch; writes per-class probabilities to submission.csv."""

import pickle

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = "data/cifar-10-batches-py"


def load(name):
    with open(f"{ROOT}/{name}", "rb") as f:
        d = pickle.load(f, encoding="bytes")
    x = torch.tensor(np.asarray(d[b"data"], dtype=np.float32).reshape(-1, 3, 32, 32) / 255.0)
    return (x - 0.5) / 0.5, torch.tensor(d.get(b"labels", [-1] * len(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.pool, self.conv2 = nn.Conv2d(3, 6, 5), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


torch.manual_seed(0)
parts = [load(f"data_batch_{i}") for i in range(1, 6)]
x_train, y_train = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
x_test, _ = load("test_batch")
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
epochs, batch_size = 5, 128
for epoch in range(epochs):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(perm), batch_size):
        idx = perm[i:i + batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        acc = (model(x_train[:5000]).argmax(1) == y_train[:5000]).float().mean().item()
    print(f"Epoch [{epoch + 1}/{epochs}] loss {loss.item():.3f} train accuracy {acc:.4f}")

with torch.no_grad():
    probs = torch.cat([F.softmax(model(x_test[i:i + 1000]), dim=1) for i in range(0, len(x_test), 1000)]).numpy()
pd.DataFrame(probs, columns=list(range(10))).to_csv("submission.csv", index_label="idx")
