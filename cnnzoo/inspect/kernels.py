"""Classic fixed convolution kernels, usable as Keras convolution initializers.

Each is a small 2D array; `FixedKernel` places it in a convolution kernel of
shape ``(kh, kw, in_channels, out_channels)``: every output channel applies it
to the mean of the input channels (so an RGB image is filtered as its grey
level, and a 1-channel image exactly).
"""

import keras
import numpy as np

KERNELS = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], "float32"),
    "sobel_x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "float32"),
    "sobel_y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "float32"),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], "float32"),
    "box_blur": np.full((3, 3), 1 / 9, "float32"),
    "gaussian_blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], "float32") / 16,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "float32"),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], "float32"),
}


def get(name):
    """The kernel called ``name`` (a copy), one of ``KERNELS``."""
    if name not in KERNELS:
        raise ValueError(f"name must be one of {tuple(KERNELS)}. Received: name={name!r}")
    return KERNELS[name].copy()


def gaussian(size=5, sigma=1.0):
    """A normalized ``size x size`` Gaussian kernel."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd int. Received: size={size!r}")
    ax = np.arange(size) - size // 2
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    return (g / g.sum()).astype("float32")


@keras.saving.register_keras_serializable(package="cnnzoo")
class FixedKernel(keras.initializers.Initializer):
    """Initializes a 2D convolution kernel with a classic kernel.

    ``keras.layers.Conv2D(1, 3, kernel_initializer=FixedKernel("sobel_x"))``.

    Args:
        name: one of ``KERNELS``.
    """

    def __init__(self, name):
        get(name)
        self.name = name

    def __call__(self, shape, dtype=None):
        kernel = get(self.name)
        if len(shape) != 4 or tuple(shape[:2]) != kernel.shape:
            raise ValueError(f"FixedKernel({self.name!r}) fills (3, 3, in, out) kernels. Received: shape={shape}")
        value = np.broadcast_to(kernel[:, :, None, None] / shape[2], shape).astype("float32")
        return keras.ops.convert_to_tensor(value, dtype=dtype or "float32")

    def get_config(self):
        return {"name": self.name}
