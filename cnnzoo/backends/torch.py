"""PyTorch kernels for `cnnzoo.backends`: batch norm for training through PyTorch's own fused op, and
convolutions of channels-last tensors without Keras's layout copies.

Keras 3 computes a training-mode batch norm on PyTorch from separate ops (``torch.mean``, ``torch.var``, the
normalization), each differentiated by autograd: the forward and backward passes launch several reductions and
elementwise kernels per layer where ``torch.nn.functional.batch_norm`` (what torchvision's networks run) does one
of each. Both kernels hand the channels-last tensor over as a channels-first view, which PyTorch reads as its
``channels_last`` memory format: nothing is copied. Measured in benchmarks/README.md ("The PyTorch backend").
"""

import torch

from cnnzoo.backends import same_padding


def compiling():
    """Whether ``torch.compile`` (Keras's ``jit_compile=True`` on PyTorch) is tracing: the kernels are for eager
    steps, and the compiler gets Keras's own ops (their shapes symbolic there, which these kernels branch on).
    """
    return torch.compiler.is_compiling()


def batch_norm_training(x, scale, offset, epsilon):
    """Training-mode batch norm of channels-last ``x`` (rank 2 to 5): ``(y, mean, variance)``, the variance biased.

    The gradient flows to ``x``, ``scale`` and ``offset`` (PyTorch's fused backward); the batch statistics are
    returned for the moving averages only and carry no gradient.
    """
    channels = x.shape[-1]
    count = x.numel() // channels
    if count < 2:  # PyTorch refuses one value per channel; its statistics are exact without it
        mean = x.reshape(-1, channels).mean(0)
        variance = torch.zeros_like(mean)
        return (x - mean) * torch.rsqrt(variance + epsilon) * scale + offset, mean.detach(), variance
    mean, variance = torch.zeros_like(scale), torch.ones_like(scale)
    # momentum 1: the "running" buffers become this batch's mean and unbiased variance
    y = torch.nn.functional.batch_norm(x.movedim(-1, 1), mean, variance, scale, offset, training=True,
                                       momentum=1.0, eps=epsilon)
    return y.movedim(1, -1), mean, variance * ((count - 1) / count)


def convolution(inputs, kernel, strides, padding, dilation_rate):
    """Convolution of channels-last ``inputs`` (rank 1 to 3) with a Keras kernel ``(*k, in / groups, out)``, or None
    where it does not apply ('same' padding that would pad one side more than the other: Keras's own path).

    Keras 3.15's PyTorch convolution copies a channels-last input to a contiguous channels-first tensor and then
    back to PyTorch's ``channels_last`` memory format for oneDNN and cuDNN, two copies per convolution and two
    more for its gradient; the channels-first view of a channels-last tensor already is that memory format.
    (Keras's 1D convolution does not come here: see `cnnzoo.layers.convolution`.)
    """
    rank = inputs.ndim - 2
    pads = []
    for n, k, s, d in zip(inputs.shape[1:-1], kernel.shape[:rank], strides, dilation_rate):
        before, after = same_padding(n, k, s, d) if padding == "same" else (0, 0)
        if before != after:  # PyTorch pads both sides alike
            return None
        pads.append(before)
    convolve = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[rank - 1]
    # PyTorch's channels_last memory for both, as Keras hands them over: free for the input (a view of it already,
    # unless a strided view came in), a small copy for the kernel
    layout = {1: torch.contiguous_format, 2: torch.channels_last, 3: torch.channels_last_3d}[rank]
    outputs = convolve(inputs.movedim(-1, 1).contiguous(memory_format=layout),
                       kernel.permute(rank + 1, rank, *range(rank)).contiguous(memory_format=layout), None,
                       tuple(strides), tuple(pads), tuple(dilation_rate), inputs.shape[-1] // kernel.shape[-2])
    return outputs.movedim(1, -1)
