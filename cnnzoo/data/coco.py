"""Your own boxes: COCO's annotation JSON beside a folder of images, streamed to a detector.

`read_coco` reads the format detection data comes in (COCO's ``instances_*.json``: ``images`` with
``id`` and ``file_name``, ``annotations`` with ``image_id``, ``category_id`` and ``bbox`` as
``[x, y, width, height]`` in pixels, ``categories`` with ``id`` and ``name``) and checks every entry:
an image file that is missing or unreadable, an annotation with a malformed box, an unknown image or
category, is reported by where it is (the JSON entry, the file's path) and left out, never fatal. Crowd
annotations (``iscrowd: 1``) are left out as torchvision's detection references do. Categories become
labels 1..K in the order of their ids, the background 0, unless ``keep_category_ids`` keeps COCO's ids
(for COCO's own 91-label layout, the one the ``coco`` weights predict).

`detection_pipeline` streams a `CocoSet` to a detector batch by batch (a ``keras.utils.PyDataset``, on
every backend): each image read from disk, stretched to the detector's input (its boxes with it),
flipped left-right half of the time in training (from the seed, the epoch and the position), prepared
as the detector's weights expect, and its boxes turned into per-anchor targets (`encode_targets`).
"""

import dataclasses
import functools
import json
import math
import os

import numpy as np

from cnnzoo.data.files import DatasetFileError


@dataclasses.dataclass
class CocoSet:
    """Images and their boxes read from a COCO annotation file.

    Attributes:
        paths: the image files.
        boxes: per image, ``(k, 4)`` float32 ``(x1, y1, x2, y2)`` in the image's pixels.
        labels: per image, ``(k,)`` int64 labels, 1 and up.
        sizes: per image, ``(height, width)``.
        class_names: the name of every label, the background (label 0) first.
        category_ids: the COCO category id of every label (None for the background).
        skipped: ``(where, why)`` of every entry left out.
    """

    paths: list
    boxes: list
    labels: list
    sizes: list
    class_names: tuple
    category_ids: tuple
    skipped: list

    def __len__(self):
        return len(self.paths)

    def __str__(self):
        objects = sum(len(b) for b in self.boxes)
        lines = [f"{len(self)} images, {objects} boxes, {len(self.class_names) - 1} classes"]
        if self.skipped:
            lines.append(f"left out {len(self.skipped)}:")
            lines += [f"  {where}: {why}" for where, why in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"  ... {len(self.skipped) - 20} more")
        return "\n".join(lines)


def _number_list(value, length):
    return (isinstance(value, (list, tuple)) and len(value) == length
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def read_coco(annotation_file, images_dir=None, *, keep_category_ids=False, verify=True):
    """Reads a COCO annotation JSON and checks its images.

    Args:
        annotation_file: the JSON file.
        images_dir: the folder its ``file_name``s are relative to. Defaults to the JSON's folder.
        keep_category_ids: labels are COCO's category ids (names ``"N/A"`` where the ids skip), as the
            ``coco`` weights' 91 labels are; else 1..K in id order. Defaults to `False`.
        verify: check every image file from its header and last bytes (`check_image_file`). Defaults to `True`.

    Returns:
        A `CocoSet` (``str()`` of it says what was read and what was left out, and why).

    Raises:
        DatasetFileError: the file is not COCO annotation JSON (naming it and what is missing).
    """
    from cnnzoo.data.folder import check_image_file

    path = os.fspath(annotation_file)
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetFileError(f"{path} is not a readable COCO annotation file: {e}") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(
        document.get(k) if isinstance(document, dict) else None, list)]
    if missing:
        raise DatasetFileError(f"{path} is not COCO annotation JSON: it lacks the lists {missing} "
                               "(images, annotations and categories)")
    root = os.fspath(images_dir) if images_dir is not None else os.path.dirname(os.path.abspath(path))
    skipped = []
    categories = {}
    for i, c in enumerate(document["categories"]):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or isinstance(c.get("id"), bool) \
                or c["id"] < 1 or not isinstance(c.get("name"), str):
            skipped.append((f"{path}: categories[{i}]", "needs an int id >= 1 and a name"))
            continue
        categories[c["id"]] = c["name"]
    if not categories:
        raise DatasetFileError(f"{path} defines no usable category (categories need an int id >= 1 and a name)")
    ids = sorted(categories)
    if keep_category_ids:
        label_of = {c: c for c in ids}
        names = ["background"] + [categories.get(i, "N/A") for i in range(1, ids[-1] + 1)]
        category_ids = (None,) + tuple(i if i in categories else None for i in range(1, ids[-1] + 1))
    else:
        label_of = {c: k for k, c in enumerate(ids, start=1)}
        names = ["background"] + [categories[c] for c in ids]
        category_ids = (None,) + tuple(ids)
    images, left_out = {}, set()  # the readable images by id; the ids of those reported unreadable
    for i, entry in enumerate(document["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), (int, str)) \
                or not isinstance(entry.get("file_name"), str):
            skipped.append((where, "needs an id and a file_name"))
            continue
        file = os.path.join(root, entry["file_name"])
        problem = "missing" if not os.path.isfile(file) else (check_image_file(file) if verify else None)
        if problem:
            skipped.append((file, problem))
            left_out.add(entry["id"])
            continue
        size = (entry.get("height"), entry.get("width"))
        if not all(isinstance(s, int) and s > 0 for s in size):
            from PIL import Image

            with Image.open(file) as img:
                size = (img.height, img.width)
        images[entry["id"]] = {"path": file, "size": size, "boxes": [], "labels": []}
    for i, a in enumerate(document["annotations"]):
        where = f"{path}: annotations[{i}]"
        if not isinstance(a, dict):
            skipped.append((where, "not an object"))
            continue
        if a.get("iscrowd"):
            continue  # crowd regions are not boxes to detect (torchvision's references drop them too)
        if a.get("category_id") not in categories:
            skipped.append((where, f"unknown category_id {a.get('category_id')!r}"))
            continue
        image = images.get(a.get("image_id"))
        if image is None:
            if a.get("image_id") not in left_out:  # an unreadable image's boxes go with it, reported once
                skipped.append((where, f"image_id {a.get('image_id')!r} is not an image of the file"))
            continue
        bbox = a.get("bbox")
        if not _number_list(bbox, 4) or bbox[2] <= 0 or bbox[3] <= 0:
            skipped.append((where, f"bbox must be [x, y, width, height] with width, height > 0. Received: {bbox!r}"))
            continue
        h, w = image["size"]
        x1, y1 = min(max(bbox[0], 0.0), w), min(max(bbox[1], 0.0), h)
        x2, y2 = min(max(bbox[0] + bbox[2], 0.0), w), min(max(bbox[1] + bbox[3], 0.0), h)
        if x2 <= x1 or y2 <= y1:
            skipped.append((where, f"bbox {bbox} lies outside its {w}x{h} image"))
            continue
        image["boxes"].append([x1, y1, x2, y2])
        image["labels"].append(label_of[a["category_id"]])
    kept = list(images.values())
    if not kept:
        raise DatasetFileError(f"{path}: none of its images is readable under {root} (first problems: "
                               f"{skipped[:3]})")
    return CocoSet(
        paths=[e["path"] for e in kept],
        boxes=[np.asarray(e["boxes"], np.float32).reshape(-1, 4) for e in kept],
        labels=[np.asarray(e["labels"], np.int64) for e in kept],
        sizes=[tuple(e["size"]) for e in kept],
        class_names=tuple(names), category_ids=category_ids, skipped=skipped)


def _preparation(model):
    """``(scale, mean, std)`` a detector's inputs are prepared with: its weight set's, its file's, else [0, 1]."""
    weight_set = getattr(model, "pretrained", None)
    if weight_set is not None:
        p = weight_set.preprocessing
        return 255.0, np.asarray(p.mean, "float32"), np.asarray(p.std, "float32")
    recorded = getattr(model, "preprocessing", None) or {}
    mean, std = recorded.get("mean"), recorded.get("std")
    return (float(recorded.get("scale", 255.0)), None if mean is None else np.asarray(mean, "float32"),
            None if std is None else np.asarray(std, "float32"))


def detection_pipeline(data, model, batch_size, training=False, seed=0, flip=True):
    """A `CocoSet` streamed to ``model`` (a cnnzoo detector) as ``(images, targets)`` batches.

    Args:
        data: a `CocoSet` (`read_coco`).
        model: the detector: its input size, channels, anchors and preparation.
        batch_size: images per batch.
        training: shuffle every epoch and flip left-right half of the time. Defaults to `False`.
        seed: of the order and the flips. Defaults to `0`.
        flip: flip in training. Defaults to `True`.

    Returns:
        A ``keras.utils.PyDataset``; an image unreadable when its turn comes is reported by path and
        the next one takes its place.
    """
    import keras

    from cnnzoo.data.folder import read_image, read_or_next
    from cnnzoo.detection import detection_layer, encode_targets
    from cnnzoo.files import files_fingerprint

    if not isinstance(data, CocoSet):
        raise TypeError(f"data must be a CocoSet (cnnzoo.data.coco.read_coco). Received: {type(data).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    layer = detection_layer(model)
    height, width = layer.image_size
    channels = int(model.input_shape[-1])
    classes = layer.classes
    if len(data.class_names) > classes:
        raise ValueError(f"the data has {len(data.class_names)} labels (background included) but the detector "
                         f"{classes}: build it with classes={len(data.class_names)}")
    scale, mean, std = _preparation(model)

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch, self.reported = 0, set()
            self.order = np.arange(len(data))
            self._shuffle()

        def _shuffle(self):
            if training:
                self.order = np.random.default_rng([seed, self.epoch]).permutation(len(data))

        def __len__(self):
            return -(-len(data) // batch_size)

        def _read(self, j):
            image = read_image(data.paths[j], (height, width), channels).astype("float32")
            h, w = data.sizes[j]
            boxes = data.boxes[j] * np.float32([width / w, height / h, width / w, height / h])
            return image, boxes, data.labels[j]

        def __getitem__(self, index):
            picks = self.order[index * batch_size:(index + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, index])
            items = [read_or_next(j, data.paths, self._read, self.reported, "image") for j in picks]
            most = max(1, max(len(b) for _, b, _ in items))
            x = np.zeros((len(items), height, width, channels), "float32")
            boxes = np.zeros((len(items), most, 4), "float32")
            labels = np.zeros((len(items), most), "int64")
            for i, (image, b, lab) in enumerate(items):
                if training and flip and rng.uniform() < 0.5:
                    image = image[:, ::-1]
                    b = np.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], axis=1)
                x[i], boxes[i, :len(b)], labels[i, :len(lab)] = image, b, lab
            x /= scale
            if mean is not None:
                x = (x - mean) / std
            return x, keras.ops.convert_to_numpy(encode_targets(boxes, labels, layer.anchors, classes=classes))

        def on_epoch_end(self):
            self.epoch += 1
            self._shuffle()

    batches = Batches()
    batches.cnnzoo_identity = functools.cache(lambda: {
        "kind": "coco", "files": files_fingerprint(data.paths), "classes": list(data.class_names),
        "boxes": int(sum(len(b) for b in data.boxes)), "training": training, "seed": seed, "flip": flip,
        "batch_size": batch_size})
    return batches
