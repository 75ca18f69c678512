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

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if __name__ == "__main__":
    from cnnzoo.training import finetune

    args = finetune.parser().parse_args()
    try:
        finetune.run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
