"""A zoo ResNet on Fashion-MNIST.

The recipe (its config, target and measured result) is cnnzoo/recipes/fashion_mnist.py, shipped with the
package: `python recipes/fashion_mnist.py [options]` here is `cnnzoo train fashion_mnist [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.fashion_mnist import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("fashion_mnist", prog="python recipes/fashion_mnist.py"))
