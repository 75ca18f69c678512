"""Model families: one module each, a spec table + one generic builder + entry points."""

from cnnzoo.models.alexnet import alexnet
from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT, googlenet, without_aux
from cnnzoo.models.lenet import lenet5
from cnnzoo.models.resnet import (
    resnet18, resnet20, resnet32, resnet34, resnet44, resnet50, resnet56, resnet101, resnet110,
    resnet152,
)
from cnnzoo.models.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = [
    "AUX_LOSS_WEIGHT", "alexnet", "googlenet", "lenet5", "resnet18", "resnet20", "resnet32",
    "resnet34", "resnet44", "resnet50", "resnet56", "resnet101", "resnet110", "resnet152", "vgg11",
    "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "without_aux",
]
