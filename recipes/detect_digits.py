"""Detection of digits: an SSD on a cnnzoo backbone finds and reads every digit of a scene.

The recipe (its config, target and measured result) is cnnzoo/recipes/detect_digits.py, shipped with
the package: `python recipes/detect_digits.py [options]` here is `cnnzoo train detect_digits
[options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.detect_digits import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("detect_digits", prog="python recipes/detect_digits.py"))
