"""Model families: one module each, a spec table + a trunk + registered entry points.

`builder` is the one builder they share (`Family`, `ModelArgs`); importing this
package registers every family; the builders themselves are exported from the
top-level ``cnnzoo`` namespace.
"""

from cnnzoo.models import alexnet, googlenet, lenet, resnet, tcn, vgg  # noqa: F401

__all__ = ["alexnet", "googlenet", "lenet", "resnet", "tcn", "vgg"]
