"""Fine-tune a zoo model on your own images (or clips): one sub-folder per class.

    python recipes/finetune.py --model resnet18 --weights imagenet --data-dir my_images/
    python recipes/finetune.py --model resnet18 --weights pretrained.keras --data-dir my_images/
    cnnzoo finetune ...                       # the same command

The folder is streamed (any size, constant memory); from a weight set, images are prepared as
those weights were trained (random-resized crop + flip; resize and centre crop; their mean/std).
Phase 1 trains a new head on the frozen backbone (BatchNorm in inference mode), phase 2
unfreezes the last stage (--unfreeze-from) at a lower learning rate; re-running the command
after a crash resumes. Prints per-class and overall validation accuracy; writes
runs/finetune/model.keras (loads back with keras.saving.load_model, no custom_objects),
classes.json, preprocessing.json and results.json. Unreadable images are reported by path and
skipped.
"""

import sys

TARGET = "your own data: per-class and overall validation accuracy"


def main(argv=None, prog=None):
    """``cnnzoo train finetune [options]``: `cnnzoo.finetune` on a class-folder tree."""
    from cnnzoo.training import finetune

    args = finetune.parser(prog).parse_args(argv)
    try:
        result = finetune.run_command(args)
    except (ValueError, OSError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finetune.print_result(result)
    return 0
