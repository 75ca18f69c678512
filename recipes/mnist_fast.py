"""MNIST to 99.2% fast: a wider LeNet-5 with a one-cycle schedule, against the keras.io convnet.

The recipe (its config, target and measured result) is cnnzoo/recipes/mnist_fast.py, shipped with the
package: `python recipes/mnist_fast.py [options]` here is `cnnzoo train mnist_fast [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.mnist_fast import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("mnist_fast", prog="python recipes/mnist_fast.py"))
