"""A 2D convolution layer in plain numpy, written with loops; time its forward pass."""

import time

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x) elementwise."""
    return x * (x > 0)


def add_padding(x: np.ndarray, pad: int, value: float = 0) -> np.ndarray:
    """Pad a [batch, height, width, channels] array by ``pad`` on both spatial sides."""
    return np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=value)


class Conv2DLayer:
    """kernel_matrices: [k, k, in_channels, filters]; biases: [1, 1, 1, filters]."""

    def __init__(self, input_channels: int, num_filters: int, kernel_size: int, stride: int, padding: int, activation: str | None = "relu"):
        self.kernel_matrices = np.random.randn(kernel_size, kernel_size, input_channels, num_filters)
        self.biases = np.random.randn(1, 1, 1, num_filters)
        self.stride = stride
        self.padding = padding
        self.activation = activation

    def convolution_step(self, image_portion: np.ndarray, kernel: np.ndarray, bias: float) -> float:
        """One output value: the window times the kernel, summed, plus the bias."""
        assert image_portion.shape == kernel.shape
        return float(np.sum(image_portion * kernel)) + bias

    def forward(self, features_batch: np.ndarray) -> np.ndarray:
        """[batch, h, w, in_channels] -> [batch, h_new, w_new, filters]."""
        batch_size, h_old, w_old, _ = features_batch.shape
        k, _, _, num_filters = self.kernel_matrices.shape
        h_new = (h_old + 2 * self.padding - k) // self.stride + 1
        w_new = (w_old + 2 * self.padding - k) // self.stride + 1
        padded = add_padding(features_batch, self.padding)
        output = np.zeros([batch_size, h_new, w_new, num_filters])
        for index in range(batch_size):
            image = padded[index]
            for h in range(h_new):
                for w in range(w_new):
                    for f in range(num_filters):
                        y0, x0 = h * self.stride, w * self.stride
                        window = image[y0:y0 + k, x0:x0 + k, :]
                        output[index, h, w, f] = self.convolution_step(window, self.kernel_matrices[:, :, :, f], float(self.biases[0, 0, 0, f]))
        if self.activation == "relu":
            return relu(output)
        return output


if __name__ == "__main__":
    batch = np.random.randn(32, 64, 64, 3)
    cnn = Conv2DLayer(3, 8, 3, 2, 2, "relu")
    start = time.time()
    out = cnn.forward(batch)
    print(f"Time taken for execution: {time.time() - start:.3f} s; output shape {out.shape}")
