"""Starter: a small decision tree on the digits data. Writes submission.csv (id,label)."""

import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
X, y = train.drop(columns=["label"]), train["label"]

X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=0)
model = DecisionTreeClassifier(max_depth=6, random_state=0)
model.fit(X_tr, y_tr)
print(f"validation accuracy: {model.score(X_val, y_val):.4f}")

model.fit(X, y)
pd.DataFrame({"id": test["id"], "label": model.predict(test.drop(columns=["id"]))}).to_csv("submission.csv", index=False)
print("wrote submission.csv")
