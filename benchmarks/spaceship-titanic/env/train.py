"""Starter: logistic regression on a few one-hot encoded columns. Writes submission.csv (PassengerId,Transported)."""

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")


def features(df):
    df = df.copy()
    df[["Deck", "Cabin_num", "Side"]] = df["Cabin"].str.split("/", expand=True)
    cols = ["HomePlanet", "CryoSleep", "Destination", "VIP", "Deck", "Side"]
    return pd.get_dummies(df[cols].astype(str))


X = features(train)
X_test = features(test).reindex(columns=X.columns, fill_value=False)
y = train["Transported"]

X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=1)
model = LogisticRegression(max_iter=1000)
model.fit(X_tr, y_tr)
print(f"train accuracy: {model.score(X_tr, y_tr):.4f}")
print(f"validation accuracy: {model.score(X_val, y_val):.4f}")

model.fit(X, y)
pd.DataFrame({"PassengerId": test["PassengerId"], "Transported": model.predict(X_test)}).to_csv("submission.csv", index=False)
print("wrote submission.csv")
