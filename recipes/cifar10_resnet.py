"""CIFAR-10 with the CIFAR ResNets of He et al. 2016 (section 4.2), their schedule.

The recipe (its config, target and measured result) is cnnzoo/recipes/cifar10_resnet.py, shipped with the
package: `python recipes/cifar10_resnet.py [options]` here is `cnnzoo train cifar10_resnet [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.cifar10_resnet import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("cifar10_resnet", prog="python recipes/cifar10_resnet.py"))
