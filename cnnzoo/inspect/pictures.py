"""Pictures (PNG, matplotlib): first-layer filters, feature maps, receptive fields,
classic kernels applied to an image, training curves, confusion matrices, detections.
"""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnnzoo import compat  # noqa: E402

DPI = 100


def _save(fig, path):
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _conv_layers(model):

    return [la for la in compat.flatten_layers(model)
            if isinstance(la, compat.BaseConv)]


def sample_image(dataset="mnist", index=0):
    """A real image from the sample bundled with cnnzoo: (28, 28, 1) uint8 and its label."""
    import os

    from cnnzoo.data import idx
    from cnnzoo.data.datasets import SAMPLES_DIR

    folder = os.path.join(SAMPLES_DIR, dataset)
    images, labels = idx.read_idx_split(folder, "test")
    return images[index], int(labels[index])


def _show(ax, image):
    image = np.asarray(image, "float32")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        lo, hi = image.min(), image.max()
        ax.imshow((image - lo) / (hi - lo + 1e-8))
    else:
        ax.imshow(image, cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_filters(model, path, layer_name=None, max_filters=64):
    """The first convolution's filters as a grid (2D: images; 3D: the middle frame; 1D: curves)."""
    convs = _conv_layers(model)
    if layer_name is not None:
        convs = [la for la in convs if layer_name in la.path]
    if not convs:
        raise ValueError(f"{model.name} has no convolution{f' matching {layer_name!r}' if layer_name else ''}")
    kernel = np.asarray(convs[0].kernel)  # (*k, in, out)
    n = min(kernel.shape[-1], max_filters)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.2), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        k = kernel[..., i]
        if k.ndim == 2:  # 1D: (k, in)
            ax.plot(k)
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            if k.ndim == 4:  # 3D: the middle frame
                k = k[k.shape[0] // 2]
            _show(ax, k if k.shape[-1] in (1, 3) else k.mean(axis=-1))
    fig.suptitle(f"{model.name}: {convs[0].path.rsplit('/', 1)[0]} filters")
    return _save(fig, path)


def _default_layers(model):
    feats = [la.name for la in model.layers
             if la.name.startswith(("stage", "stem", "inception")) and "pool" not in la.name]
    if len(feats) < 3:
        feats = [la.name for la in model.layers[1:] if len(la.output.shape) == len(model.input.shape)]
    return [feats[0], feats[len(feats) // 2], feats[-1]] if len(feats) >= 3 else feats


def plot_feature_maps(model, image, path, layer_names=None, maps_per_layer=8):
    """Feature maps of low, middle and high layers side by side for one image."""
    import keras

    layer_names = layer_names or _default_layers(model)
    outputs = [model.get_layer(n).output for n in layer_names]
    probe = keras.Model(model.input, outputs)
    x = np.asarray(image, "float32")[None]
    if x.max() > 1.5:
        x = x / 255.0
    maps = probe.predict(x, verbose=0)
    maps = maps if isinstance(maps, list) else [maps]
    fig, axes = plt.subplots(len(layer_names), maps_per_layer + 1,
                             figsize=((maps_per_layer + 1) * 1.3, len(layer_names) * 1.4), squeeze=False)
    for row, (name, fmap) in enumerate(zip(layer_names, maps)):
        _show(axes[row, 0], image)
        axes[row, 0].set_ylabel(name, fontsize=7)
        fmap = fmap[0]
        if fmap.ndim == 4:
            fmap = fmap[fmap.shape[0] // 2]
        strongest = np.argsort(-fmap.reshape(-1, fmap.shape[-1]).mean(axis=0))[:maps_per_layer]
        for col in range(maps_per_layer):
            ax = axes[row, col + 1]
            if col < len(strongest):
                m = fmap[..., strongest[col]]
                if m.ndim == 1:
                    ax.plot(m)
                    ax.set_xticks([])
                    ax.set_yticks([])
                else:
                    ax.imshow(m, cmap="viridis")
                    ax.set_xticks([])
                    ax.set_yticks([])
            else:
                ax.axis("off")
    fig.suptitle(f"{model.name}: feature maps, low to high layers")
    return _save(fig, path)


def plot_receptive_field(model, image, layer_name, path, unit=None):
    """Draws the receptive field of one unit of ``layer_name`` on a 2D input image."""
    from matplotlib.patches import Rectangle

    from cnnzoo.inspect.analysis import summary

    result = summary(model)
    row = next((r for r in result.rows if r.name == layer_name), None)
    if row is None:
        raise ValueError(f"No layer named {layer_name!r} in {model.name}. Received: layer_name={layer_name!r}")
    if row.receptive_field is None or len(row.receptive_field) != 2:
        raise ValueError(f"{layer_name!r} has no 2D receptive field (it sees the whole input)")
    h, w = row.output_shape[1:3]
    unit = unit or (h // 2, w // 2)
    fig, ax = plt.subplots(figsize=(4, 4))
    _show(ax, image)
    fy, fx = row.receptive_field
    cy, cx = fy.start + unit[0] * fy.jump, fx.start + unit[1] * fx.jump
    ax.add_patch(Rectangle((cx - (fx.size - 1) / 2 - 0.5, cy - (fy.size - 1) / 2 - 0.5), fx.size, fy.size,
                           fill=False, edgecolor="red", linewidth=2))
    ax.plot([cx], [cy], "r+")
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_title(f"{layer_name} unit {tuple(unit)}: {int(fy.size)}x{int(fx.size)} px", fontsize=9)
    return _save(fig, path)


def plot_kernels(image, path, names=None):
    """Each classic kernel of `cnnzoo.inspect.kernels` and its result on ``image`` (grey level)."""
    from cnnzoo.inspect import kernels

    names = names or list(kernels.KERNELS)
    grey = np.asarray(image, "float32")
    grey = grey.mean(axis=-1) if grey.ndim == 3 else grey
    fig, axes = plt.subplots(2, len(names), figsize=(len(names) * 1.6, 3.4), squeeze=False)
    padded = np.pad(grey, 1, mode="edge")
    for i, name in enumerate(names):
        k = kernels.get(name)
        out = sum(k[a, b] * padded[a : a + grey.shape[0], b : b + grey.shape[1]] for a in range(3) for b in range(3))
        axes[0, i].imshow(k, cmap="coolwarm")
        axes[0, i].set_title(name, fontsize=8)
        axes[0, i].set_xticks([])
        axes[0, i].set_yticks([])
        _show(axes[1, i], out)
    fig.suptitle("classic kernels (top) applied to a real image (bottom)")
    return _save(fig, path)


def plot_curves(history, path, title=""):
    """Loss and accuracy per epoch, train and test, side by side (the loss alone for a run without accuracy,
    a detector's); returns the path.
    """
    keys = [k for k in ("loss", "accuracy") if k in history or f"val_{k}" in history] or ["loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), dpi=100, squeeze=False)
    epochs = range(1, len(history.get("loss", [])) + 1)
    for ax, key in zip(axes[0], keys):
        if key in history:
            ax.plot(epochs, history[key], marker="o", label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", label="test")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_detections(images, detections, path, ground_truth=None, class_names=None, min_score=0.5, columns=4,
                    title=""):
    """Images with their detected boxes (labelled with class and score), ground-truth boxes dashed; returns the path.

    Args:
        images: ``(H, W)`` or ``(H, W, C)`` arrays, 0-255.
        detections: one `cnnzoo.detection.Detections` per image.
        path: the PNG to write.
        ground_truth: per image ``(boxes, labels)``, drawn dashed. Defaults to none.
        class_names: names of the class indices. Defaults to the detections' own.
        min_score: the least score drawn. Defaults to `0.5`.
        columns: images per row. Defaults to `4`.
        title: the figure's title.
    """
    from matplotlib import patches

    n = len(images)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, min(n, columns), figsize=(3 * min(n, columns), 3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (image, found) in enumerate(zip(images, detections)):
        ax = axes[i // columns, i % columns]
        image = np.asarray(image)
        ax.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image.astype("uint8"),
                  cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None)
        names = class_names or found.class_names
        for box, label in zip(*(ground_truth[i] if ground_truth is not None else ((), ()))):
            ax.add_patch(patches.Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, ls="--",
                                           ec="white", lw=1))
        for box, label, score in zip(found.boxes, found.labels, found.scores):
            if score < min_score:
                continue
            ax.add_patch(patches.Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, ec="lime", lw=1.5))
            name = names[label] if names and label < len(names) else str(int(label))
            ax.text(box[0], box[1], f"{name} {score:.2f}", color="black", fontsize=7, va="bottom",
                    bbox=dict(facecolor="lime", alpha=0.8, pad=1, lw=0))
    fig.suptitle(title or f"detections (score >= {min_score}); ground truth dashed")
    fig.tight_layout()
    return _save(fig, path)


def draw_detections(image, detections, path, min_score=0.0):
    """The image (a path or an array) with its detections drawn, written to ``path`` (PNG): at its own size, or
    enlarged by a whole factor (nearest neighbour) to at least 400 pixels when smaller, so the labels can be read.
    """
    from PIL import Image, ImageDraw

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as img:
            picture = img.convert("RGB")
    else:
        array = np.asarray(image)
        picture = Image.fromarray((array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array)
                                  .astype("uint8")).convert("RGB")
    factor = max(1, 400 // max(picture.size))
    if factor > 1:
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    for box, name, score in zip(detections.boxes, detections.names, detections.scores):
        if score < min_score:
            continue
        x1, y1, x2, y2 = (float(v) * factor for v in box)
        draw.rectangle([x1, y1, x2, y2], outline=(0, 255, 0), width=max(1, round(max(picture.size) / 300)))
        label = f"{name} {score:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), label)
        draw.rectangle([left, top - (bottom - top), right, y1], fill=(0, 255, 0))
        draw.text((x1, y1 - (bottom - top)), label, fill=(0, 0, 0))
    picture.save(path)
    return path


def plot_confusion(confusion, class_names, path, title=""):
    """A confusion matrix (rows: true class, columns: predicted), each row as fractions of its class, with the
    counts written in the cells (up to 30 classes); returns the path.
    """
    confusion = np.asarray(confusion)
    n = len(confusion)
    rows = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.45 * n, 20)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), dpi=DPI)
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of the true class")
    ticks = np.arange(n)
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=90 if n > 8 else 0)
    ax.set_yticks(ticks, [str(c) for c in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if rows[i, j] > 0.5 else "black")
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    ax.set_title(f"{title + ': ' if title else ''}accuracy {100 * accuracy:.1f}% on {int(confusion.sum())} examples")
    fig.tight_layout()
    return _save(fig, path)
