"""Fine-tune a zoo model on your own images (or clips): one sub-folder per class.

The recipe (its config, target and measured result) is cnnzoo/recipes/finetune.py, shipped with the
package: `python recipes/finetune.py [options]` here is `cnnzoo train finetune [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.finetune import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("finetune", prog="python recipes/finetune.py"))
