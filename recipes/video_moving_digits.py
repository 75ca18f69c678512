"""Video classification on moving digits: do the 3D networks learn motion?

The recipe (its config, target and measured result) is cnnzoo/recipes/video_moving_digits.py, shipped with
the package: `python recipes/video_moving_digits.py [options]` here is `cnnzoo train video_moving_digits
[options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.video_moving_digits import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("video_moving_digits", prog="python recipes/video_moving_digits.py"))
