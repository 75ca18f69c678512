"""Why CNNs work: an MLP and LeNet-5 with the same number of parameters, on real and on shuffled pixels.

The recipe (its config, target and measured result) is cnnzoo/recipes/mlp_vs_cnn.py, shipped with the
package: `python recipes/mlp_vs_cnn.py [options]` here is `cnnzoo train mlp_vs_cnn [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.mlp_vs_cnn import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("mlp_vs_cnn", prog="python recipes/mlp_vs_cnn.py"))
