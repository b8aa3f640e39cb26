"""Starter: a random forest on a handful of numeric columns. Writes submission.csv (Id,SalePrice)."""

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import train_test_split

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")

features = [
    "MSSubClass", "LotArea", "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd",
    "1stFlrSF", "2ndFlrSF", "GrLivArea", "FullBath", "HalfBath", "BedroomAbvGr",
    "KitchenAbvGr", "TotRmsAbvGrd", "Fireplaces", "WoodDeckSF", "OpenPorchSF", "MoSold", "YrSold",
]
X, y = train[features], train["SalePrice"]

X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=1)
model = RandomForestRegressor(n_estimators=100, random_state=1, n_jobs=2)
model.fit(X_tr, y_tr)
val_pred = model.predict(X_val)
print(f"validation MAE: {np.mean(np.abs(val_pred - y_val)):,.0f}")
print(f"validation RMSE of log(SalePrice): {np.sqrt(np.mean((np.log(val_pred) - np.log(y_val)) ** 2)):.4f}")

model.fit(X, y)
pd.DataFrame({"Id": test["Id"], "SalePrice": model.predict(test[features])}).to_csv("submission.csv", index=False)
print("wrote submission.csv")
