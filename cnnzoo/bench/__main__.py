"""``python -m cnnzoo.bench``: the same as ``cnnzoo bench``."""

import sys

from cnnzoo.bench.harness import main

sys.exit(main())
