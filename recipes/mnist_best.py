"""The best single model the zoo makes on MNIST, and its time to 99.2% against the keras.io convnet.

The recipe (its config, target and measured result) is cnnzoo/recipes/mnist_best.py, shipped with the
package: `python recipes/mnist_best.py [options]` here is `cnnzoo train mnist_best [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.mnist_best import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("mnist_best", prog="python recipes/mnist_best.py"))
