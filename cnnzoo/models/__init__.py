"""Model families: one module each, a spec table + one generic builder + entry points.

Importing this package registers every family; the builders themselves are
exported from the top-level ``cnnzoo`` namespace.
"""

from cnnzoo.models import alexnet, googlenet, lenet, resnet, tcn, vgg, video_resnet  # noqa: F401

__all__ = ["alexnet", "googlenet", "lenet", "resnet", "tcn", "vgg", "video_resnet"]
