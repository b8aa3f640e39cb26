"""Starter: logistic regression on a few one-hot columns; writes submission.csv (PassengerId,Transported)."""

import pandas as pd
from sklearn.linear_model import LogisticRegression


def features(df):
    df = df.copy()
    df[["Deck", "Cabin_num", "Side"]] = df["Cabin"].str.split("/", expand=True)
    cols = ["HomePlanet", "CryoSleep", "Destination", "VIP", "Deck", "Side"]
    return pd.get_dummies(df[cols].astype(str))


df = pd.read_csv("data/train.csv").sample(frac=1, random_state=1)
n = int(len(df) * 0.8)
train, valid = df[:n], df[n:]
X_all = features(df)
X_train, X_valid = X_all.loc[train.index], X_all.loc[valid.index]

# ***********************************************
# In this part of the code, write and train the model on the above dataset to perform the task.
# This part should populate the variables train_accuracy and valid_accuracy on the model selected
# ***********************************************
model = LogisticRegression(max_iter=1000)
model.fit(X_train, train.Transported.astype(bool))
train_accuracy = model.score(X_train, train.Transported.astype(bool))
valid_accuracy = model.score(X_valid, valid.Transported.astype(bool))
# ***********************************************
# End of the main training module
# ***********************************************

print(f"Train Accuracy: {train_accuracy}")
print(f"Validation Accuracy: {valid_accuracy}")

model.fit(X_all, df.Transported.astype(bool))
test = pd.read_csv("data/test.csv")
X_test = features(test).reindex(columns=X_all.columns, fill_value=False)
pd.DataFrame({"PassengerId": test.PassengerId, "Transported": model.predict(X_test)}).to_csv("submission.csv", index=False)
