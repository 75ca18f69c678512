"""LeNet-5 on MNIST: the README's main job.

The recipe (its config, target and measured result) is cnnzoo/recipes/mnist_lenet5.py, shipped with the
package: `python recipes/mnist_lenet5.py [options]` here is `cnnzoo train mnist_lenet5 [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.mnist_lenet5 import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("mnist_lenet5", prog="python recipes/mnist_lenet5.py"))
