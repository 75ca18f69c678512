"""CIFAR-10 with VGG16-BN (conv stages of the ImageNet network at 32x32).

The recipe (its config, target and measured result) is cnnzoo/recipes/cifar10_vgg16_bn.py, shipped with the
package: `python recipes/cifar10_vgg16_bn.py [options]` here is `cnnzoo train cifar10_vgg16_bn [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.cifar10_vgg16_bn import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("cifar10_vgg16_bn", prog="python recipes/cifar10_vgg16_bn.py"))
