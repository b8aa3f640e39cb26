"""Run-length encoding of a mask as the competition wants it: 1-based starts, column-major order."""

import numpy as np


def rle_encode(mask):
    pixels = np.concatenate([[0], np.asarray(mask).flatten(order="F"), [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs) if len(runs) else "-"
