"""What a model trains for: its loss, its metrics, the metric that picks the best epoch, how labels arrive.

A classifier (every registered family but the detectors) trains on categorical cross-entropy (with
``TrainConfig.label_smoothing``), reports accuracy, keeps the epoch of the best validation accuracy and
takes class indices or one-hot rows. A detector (`cnnzoo.ssd300_vgg16`, `cnnzoo.ssd`: a model with a
`DetectionOutputs` layer) trains on `SSDLoss` over per-anchor targets (`cnnzoo.detection.encode_targets`,
given as they are) and keeps the epoch of the lowest validation loss. The engine asks `objective_for`;
nothing else in it knows the task.
"""

import dataclasses
import typing

import keras

from cnnzoo.detection.loss import SSDLoss
from cnnzoo.detection.postprocess import is_detector


@dataclasses.dataclass(frozen=True)
class Objective:
    """One task's training objective.

    Attributes:
        loss: the Keras loss.
        metrics: the Keras metrics compiled with it.
        monitor: the validation log key that picks the best epoch (``best.keras``).
        higher_is_better: whether a larger ``monitor`` is better.
        num_classes: the width labels are one-hot encoded to, or None (labels used as given).
    """

    loss: typing.Any
    metrics: list
    monitor: str
    higher_is_better: bool
    num_classes: typing.Optional[int]


def has_named_outputs(model):
    """True for models whose outputs are a dict (GoogLeNet with auxiliary heads)."""
    try:
        return isinstance(model.output, dict)
    except (AttributeError, ValueError):  # a Sequential model not called yet
        return False


def objective_for(model, config):
    """The `Objective` of ``model`` trained with ``config`` (a `TrainConfig`)."""
    if is_detector(model):
        return Objective(SSDLoss(), [], "val_loss", False, None)
    named = has_named_outputs(model)
    classes = int(model.output["main"].shape[-1] if named else model.output_shape[-1])
    return Objective(keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing), ["accuracy"],
                     "val_main_accuracy" if named else "val_accuracy", True, classes)
