"""Starter: ridge regression on TF-IDF features for the six scores; writes submission.csv."""

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

DIMENSIONS = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]


def compute_metrics_for_regression(y_test, y_test_pred):
    return {f"rmse_{d}": float(np.sqrt(np.mean((y_test[:, i] - y_test_pred[:, i]) ** 2))) for i, d in enumerate(DIMENSIONS)}


df = pd.read_csv("data/train.csv")
X, y = df.full_text.to_numpy(), df[DIMENSIONS].to_numpy(float)
X_train, X_valid, y_train, y_valid = train_test_split(X, y, test_size=0.1, random_state=42)
vec = TfidfVectorizer(min_df=1, max_features=20000)
model = Ridge(alpha=1.0).fit(vec.fit_transform(X_train), y_train)
metrics = compute_metrics_for_regression(y_valid, model.predict(vec.transform(X_valid)))
print(metrics)
print("final MCRMSE on validation set:", np.mean(list(metrics.values())))

model = Ridge(alpha=1.0).fit(vec.fit_transform(X), y)
test = pd.read_csv("data/test.csv")
pred = pd.DataFrame(np.clip(model.predict(vec.transform(test.full_text.to_numpy())), 1, 5), columns=DIMENSIONS)
pred.insert(0, "text_id", test.text_id)
pred.to_csv("submission.csv", index=False)
