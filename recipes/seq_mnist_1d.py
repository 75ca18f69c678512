"""Sequential (pixel-by-pixel) MNIST with a temporal convolutional network.

The recipe (its config, target and measured result) is cnnzoo/recipes/seq_mnist_1d.py, shipped with the
package: `python recipes/seq_mnist_1d.py [options]` here is `cnnzoo train seq_mnist_1d [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.seq_mnist_1d import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("seq_mnist_1d", prog="python recipes/seq_mnist_1d.py"))
