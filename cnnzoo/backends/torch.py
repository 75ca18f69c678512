"""PyTorch kernels for `cnnzoo.backends`: batch norm for training through PyTorch's own fused op.

Keras 3 computes a training-mode batch norm on PyTorch from separate ops (``torch.mean``, ``torch.var``, the
normalization), each differentiated by autograd: the forward and backward passes launch several reductions and
elementwise kernels per layer where ``torch.nn.functional.batch_norm`` (what torchvision's networks run) does one
of each. The channels-last tensor is handed over as a channels-first view, which PyTorch reads as its
``channels_last`` memory format: nothing is copied. Measured in benchmarks/README.md ("The PyTorch backend").
"""

import torch


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
