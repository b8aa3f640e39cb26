"""Starter: a small CNN (LeNet-style) on CIFAR-10. Writes submission.csv (id,0..9 class probabilities)."""

import pickle

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

DATA = "data/cifar-10-batches-py"
EPOCHS = 5
BATCH_SIZE = 128
torch.manual_seed(0)


def unpickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def to_tensor(data):
    """N x 3072 uint8 rows (red, green, blue planes of 32x32) -> N x 3 x 32 x 32 floats in [-1, 1]."""
    x = torch.from_numpy(np.asarray(data, dtype=np.float32) / 255.0).reshape(-1, 3, 32, 32)
    return (x - 0.5) / 0.5


batches = [unpickle(f"{DATA}/data_batch_{i}") for i in range(1, 6)]
x_train = to_tensor(np.concatenate([b[b"data"] for b in batches]))
y_train = torch.tensor([y for b in batches for y in b[b"labels"]])
x_test = to_tensor(unpickle(f"{DATA}/test_batch")[b"data"])  # no labels: those are hidden
print(f"{len(x_train)} training images, {len(x_test)} test images")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
model = Net().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
criterion = nn.CrossEntropyLoss()
train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH_SIZE, shuffle=True, drop_last=True)


def predict(x):
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.softmax(model(x[i:i + 1000].to(device)), dim=1).cpu() for i in range(0, len(x), 1000)])


for epoch in range(EPOCHS):
    model.train()
    running_loss = 0.0
    for i, (inputs, labels) in enumerate(train_loader):
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        if i % 100 == 99:
            print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 100:.3f}")
            running_loss = 0.0
    train_acc = (predict(x_train).argmax(1) == y_train).float().mean().item()
    print(f"Epoch [{epoch + 1}/{EPOCHS}], Train Accuracy: {100 * train_acc:.2f}%")

probs = predict(x_test).numpy()
submission = pd.DataFrame(probs, columns=[str(c) for c in range(10)])
submission.insert(0, "id", range(len(probs)))
submission.to_csv("submission.csv", index=False)
print("wrote submission.csv")
