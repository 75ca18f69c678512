"""CIFAR-100 with the CIFAR ResNets (He et al.'s CIFAR-10 schedule, 100 classes).

The recipe (its config, target and measured result) is cnnzoo/recipes/cifar100_resnet.py, shipped with the
package: `python recipes/cifar100_resnet.py [options]` here is `cnnzoo train cifar100_resnet [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.cifar100_resnet import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("cifar100_resnet", prog="python recipes/cifar100_resnet.py"))
