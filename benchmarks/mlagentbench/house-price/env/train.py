"""Starter: a random forest on the numeric columns; writes submission.csv (Id,SalePrice)."""

import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import train_test_split

home = pd.read_csv("data/train.csv")
y = home.SalePrice
features = [c for c in home.columns if c not in ("Id", "SalePrice") and pd.api.types.is_numeric_dtype(home[c])]
X = home[features].fillna(-1)

train_X, valid_X, train_y, valid_y = train_test_split(X, y, random_state=1)

# ***********************************************
# In this part of the code, write and train the model on the above dataset to perform the task.
# This part should populate the variables train_mae and valid_mae on the model selected
# ***********************************************
model = RandomForestRegressor(n_estimators=100, random_state=1, n_jobs=-1)
model.fit(train_X, train_y)
train_mae = mean_absolute_error(train_y, model.predict(train_X))
valid_mae = mean_absolute_error(valid_y, model.predict(valid_X))
# ***********************************************
# End of the main training module
# ***********************************************

print("Train MAE: {:,.0f}".format(train_mae))
print("Validation MAE: {:,.0f}".format(valid_mae))

model.fit(X, y)
test = pd.read_csv("data/test.csv")
pd.DataFrame({"Id": test.Id, "SalePrice": model.predict(test[features].fillna(-1))}).to_csv("submission.csv", index=False)
