"""Fine-tune a zoo model on your own images (or clips): one sub-folder per class.

    python recipes/finetune.py --model resnet18 --weights pretrained.keras --data-dir my_images/
    cnnzoo finetune ...                       # the same command

Phase 1 trains a new head on the frozen backbone (BatchNorm in inference mode), phase 2
unfreezes the last stage (--unfreeze-from) at a lower learning rate. Prints per-class and
overall validation accuracy; writes runs/finetune/model.keras (loads back with
keras.saving.load_model, no custom_objects), classes.json and results.json.
Unreadable images are reported by path and skipped.
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
