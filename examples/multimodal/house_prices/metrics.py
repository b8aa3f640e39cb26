"""A custom metric in AutoGluon-Bench's hook format: fn(y_true, y_pred) -> float."""

import numpy as np


def within_10_percent(y_true, y_pred):
    """Share of houses whose predicted price is within 10% of the sale price."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean(np.abs(y_pred - y_true) <= 0.1 * np.abs(y_true)))
