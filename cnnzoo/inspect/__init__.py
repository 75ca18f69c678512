"""Looking inside a model: what it costs and what it sees.

- `analysis`: ``summary`` (per layer: output shape, parameters, MACs, receptive
  field), ``count_params`` (Keras's or PyTorch's convention), ``receptive_field``.
- `pictures`: filters, feature maps, receptive fields and training curves as PNGs.
- `kernels`: the classic fixed kernels (Sobel, Gaussian...) as convolution weights.
"""
