"""Layer blocks of cnnzoo, each written once for rank 1, 2 and 3.

Keras 3 only (``keras.layers``, ``keras.ops``): they run on every Keras backend.
"""

from cnnzoo.layers.connection_table import ConnectionTableConv, RBFOutput
from cnnzoo.layers.conv2plus1d import Conv2Plus1D, midplanes
from cnnzoo.layers.conv_norm_act import ConvNormAct
from cnnzoo.layers.inception import InceptionModule
from cnnzoo.layers.normalization import (
    BATCH_NORM_EPSILON,
    BATCH_NORM_MOMENTUM,
    LocalResponseNormalization,
    make_activation,
    make_norm,
)
from cnnzoo.layers.pooling import AdaptivePooling, GlobalPooling, LastTimeStep, LPPooling, Pooling
from cnnzoo.layers.rank import conv_output_length
from cnnzoo.layers.regularization import DropPath
from cnnzoo.layers.residual import BasicBlock, Bottleneck, ResidualBlock

__all__ = [
    "AdaptivePooling",
    "BATCH_NORM_EPSILON",
    "BATCH_NORM_MOMENTUM",
    "BasicBlock",
    "ConnectionTableConv",
    "Conv2Plus1D",
    "Bottleneck",
    "ConvNormAct",
    "DropPath",
    "GlobalPooling",
    "InceptionModule",
    "LPPooling",
    "LastTimeStep",
    "LocalResponseNormalization",
    "Pooling",
    "RBFOutput",
    "ResidualBlock",
    "conv_output_length",
    "make_activation",
    "make_norm",
    "midplanes",
]
