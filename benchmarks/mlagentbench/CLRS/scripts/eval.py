"""Pointer accuracy of the predicted pi on the hidden test graphs."""

import mab_common as C
import numpy as np

truth = np.load(C.answers_dir() / "test_pi.npy")
try:
    pred = np.load("predictions.npy", allow_pickle=False)
except Exception as e:  # noqa: BLE001
    C.fail(f"predictions.npy is not a numpy array file ({type(e).__name__})")
if pred.shape != truth.shape:
    C.fail(f"predictions.npy has shape {pred.shape}; the test graphs need {truth.shape}")
C.emit(float((pred == truth).mean()))
