"""Pictures for learning: the im2col patch matrix, and what a shift does inside a trained LeNet-5.

``cnnzoo viz im2col --out im2col.png`` and ``cnnzoo viz shift --model lenet5.keras --out shift.png``.
"""

import numpy as np

from cnnzoo.learn import numpy_ops


def plot_im2col(path, size=4, kernel=3):
    """A ``size x size`` input, its ``kernel x kernel`` receptive fields as the rows of the patch matrix,
    and the convolution as that matrix times the flattened kernel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x = np.arange(size * size, dtype=float).reshape(1, size, size, 1)
    cols, out = numpy_ops.im2col(x, (kernel, kernel))
    rows = cols.reshape(-1, kernel * kernel)
    colours = plt.cm.tab10(np.arange(len(rows)) % 10)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 2.2]})
    left.imshow(np.zeros((size, size)), cmap="Greys", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(x[0, ..., 0]):
        left.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=12)
    for r, (i, j) in enumerate(np.ndindex(*out)):
        inset = 0.08 * (r + 1)
        left.add_patch(Rectangle((j - 0.5 + inset, i - 0.5 + inset), kernel - 2 * inset, kernel - 2 * inset,
                                 fill=False, lw=2, ec=colours[r]))
    left.set_title(f"input {size}x{size}: {len(rows)} receptive fields of {kernel}x{kernel}")
    left.set_xticks([])
    left.set_yticks([])
    right.imshow(np.zeros_like(rows), cmap="Greys", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(rows):
        right.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=12, color=colours[i])
    right.set_title(f"im2col: one row per output position ({rows.shape[0]} x {rows.shape[1]});\n"
                    f"convolution = this matrix @ the flattened {kernel}x{kernel} kernel ({rows.shape[1]} x filters)")
    right.set_yticks(range(len(rows)), [f"output {p}" for p in np.ndindex(*out)])
    right.set_xticks(range(rows.shape[1]), [f"w{a}{b}" for a, b in np.ndindex(kernel, kernel)])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def shift_image(images, pixels, axis=2):
    """Images ``(N, H, W, C)`` moved ``pixels`` along ``axis``, zeros coming in (no wrap-around)."""
    out = np.zeros_like(images)
    if pixels == 0:
        return images.copy()
    src = [slice(None)] * images.ndim
    dst = [slice(None)] * images.ndim
    src[axis], dst[axis] = slice(0, -pixels), slice(pixels, None)
    out[tuple(dst)] = images[tuple(src)]
    return out


def shift_experiment(model, images, shifts=range(5), conv_layer="stage1_conv", pool_layer="stage2_pool"):
    """How a trained network's representations change when the input moves 0..4 pixels to the right.

    For each shift ``s`` (relative L2 changes, averaged over ``images``):
    - ``conv_equivariance_error``: the first convolution's maps of the shifted input against
      its maps of the original input shifted by ``s`` (the same move, its stride being 1): zero
      but for the borders, convolution is equivariant;
    - ``conv_change``: the maps of the shifted input against the original maps, not realigned;
    - ``pooled_change``: the same for the last pooled maps (after two 2x2 pools);
    - ``output_change``: the class probabilities; ``same_prediction``: the share of images
      whose predicted class stayed.

    Returns:
        A dict of lists, one value per shift, with ``shifts``.
    """
    import keras

    probe = keras.Model(model.input, [model.get_layer(conv_layer).output, model.get_layer(pool_layer).output,
                                      model.output])
    conv0, pool0, out0 = (np.asarray(t) for t in probe(images))

    def rel(a, b):
        num = np.sqrt(((a - b) ** 2).reshape(len(a), -1).sum(1))
        return float(np.mean(num / np.maximum(np.sqrt((b ** 2).reshape(len(b), -1).sum(1)), 1e-12)))

    result = {k: [] for k in ("shifts", "conv_equivariance_error", "conv_change", "pooled_change", "output_change",
                              "same_prediction")}
    for s in shifts:
        conv, pool, out = (np.asarray(t) for t in probe(shift_image(images, s)))
        result["shifts"].append(int(s))
        result["conv_equivariance_error"].append(rel(conv, shift_image(conv0, s)))
        result["conv_change"].append(rel(conv, conv0))
        result["pooled_change"].append(rel(pool, pool0))
        result["output_change"].append(rel(out, out0))
        result["same_prediction"].append(float(np.mean(out.argmax(-1) == out0.argmax(-1))))
    return result


def plot_shift(result, path, title="LeNet-5 on real MNIST test digits shifted right"):
    """Draws `shift_equivariance`'s result (accuracy and feature-map shift per pixel of shift) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    s = result["shifts"]
    a.plot(s, result["conv_equivariance_error"], "o-", label="conv maps vs shifted maps (equivariance error)")
    a.plot(s, result["conv_change"], "s-", label="conv maps vs original maps (no realignment)")
    a.plot(s, result["pooled_change"], "^-", label="after two 2x2 max pools")
    a.plot(s, result["output_change"], "d-", label="class probabilities")
    a.set_xlabel("shift (pixels)")
    a.set_ylabel("relative L2 change")
    a.set_title("equivariance: the maps move with the digit")
    a.legend(fontsize=8)
    b.plot(s, [100 * v for v in result["same_prediction"]], "o-", color="C3")
    b.set_xlabel("shift (pixels)")
    b.set_ylabel("predicted class unchanged (%)")
    b.set_ylim(0, 101)
    b.set_title("invariance: the prediction stays")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
