"""UCF101 action recognition with a video ResNet, from tensorflow-datasets or a local folder.

The recipe (its config, target and measured result) is cnnzoo/recipes/video_ucf101.py, shipped with the
package: `python recipes/video_ucf101.py [options]` here is `cnnzoo train video_ucf101 [options]` anywhere.
"""

import sys

from cnnzoo.recipes import main as run_recipe
from cnnzoo.recipes.video_ucf101 import *  # noqa: F401,F403  (CONFIG and the recipe's helpers, for tools and tests)

if __name__ == "__main__":
    sys.exit(run_recipe("video_ucf101", prog="python recipes/video_ucf101.py"))
