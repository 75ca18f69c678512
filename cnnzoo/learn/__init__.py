"""Learning CNNs with cnnzoo: the textbook operations, checkable by one command.

- `arithmetic`: output size, parameters, MACs and receptive field of a layer stack, with the
  formulas filled in (`conv_arithmetic`; the ``cnnzoo conv`` command).
- `numpy_ops`: convolution (direct, as im2col and one matrix product, true convolution with a
  flipped kernel), its backward pass, and max / average / L2 pooling with theirs, in NumPy for
  every rank, checked against Keras's layers and autodiff.
- `pictures`: the im2col patch matrix, and the equivariance / invariance of a trained LeNet-5.

docs/learn.md is the guided tour.
"""

from cnnzoo.learn.arithmetic import LayerArithmetic, LayerSpec, conv_arithmetic, format_arithmetic, parse_layers  # noqa: F401
