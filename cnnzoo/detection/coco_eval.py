"""COCO's own detection metric (``pycocotools``' COCOeval) on cnnzoo's detections.

`coco_map` turns ground truth (boxes and labels per image) and `Detections` into COCO's JSON structures
in memory and runs COCOeval's bounding-box evaluation: mAP averaged over IoU 0.50:0.05:0.95 and mAP at
IoU 0.5, as the COCO leaderboard reports them. pycocotools is the ``detection`` extra
(``pip install 'cnnzoo[detection]'``); nothing else in cnnzoo needs it.
"""

import contextlib
import io

import numpy as np


def _pycocotools():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ImportError("COCO mAP needs pycocotools: pip install 'cnnzoo[detection]' "
                          "(or pip install pycocotools)") from None
    return COCO, COCOeval


def coco_map(ground_truth, detections, class_names=None):
    """COCO box mAP of ``detections`` against ``ground_truth``.

    Args:
        ground_truth: per image, ``(boxes (k, 4) x1 y1 x2 y2, labels (k,))``.
        detections: per image, a `Detections` (or anything with ``boxes``, ``labels``, ``scores``).
        class_names: the names of the class indices (for the record only). Defaults to the indices.

    Returns:
        ``{"map": mAP@[.5:.95], "map50": mAP@.5, "map75": mAP@.75, "images": n, "objects": n, "detections": n}``,
        with COCO's limit of 100 detections per image (the best-scoring are counted).
    """
    COCO, COCOeval = _pycocotools()
    if len(ground_truth) != len(detections):
        raise ValueError(f"ground_truth and detections must cover the same images. Received: "
                         f"{len(ground_truth)} and {len(detections)}")
    labels = sorted({int(c) for _, lab in ground_truth for c in np.asarray(lab).reshape(-1)}
                    | {int(c) for d in detections for c in np.asarray(d.labels).reshape(-1)})
    names = class_names or {}
    images, annotations, results = [], [], []
    for i, ((boxes, lab), found) in enumerate(zip(ground_truth, detections)):
        images.append({"id": i})
        for box, label in zip(np.asarray(boxes, float).reshape(-1, 4), np.asarray(lab).reshape(-1)):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(label),
                                "bbox": [float(box[0]), float(box[1]), float(w), float(h)], "area": float(w * h),
                                "iscrowd": 0})
        for box, label, score in zip(np.asarray(found.boxes, float).reshape(-1, 4), found.labels, found.scores):
            results.append({"image_id": i, "category_id": int(label), "score": float(score),
                            "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]})
    record = {"images": len(images), "objects": len(annotations), "detections": len(results)}
    if not annotations:
        raise ValueError("ground_truth holds no boxes: mAP is undefined")
    if not results:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0, **record}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": c, "name": str(names[c]) if c < len(names) else str(c)} for c in labels]}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    return {"map": float(stats[0]), "map50": float(stats[1]), "map75": float(stats[2]), **record}
