"""Benchmarks: throughput, utilisation, memory, build time, side by side with keras.applications.

    python benchmarks/bench.py                     # the README's table (about 10 minutes on 2 CPU cores)
    python benchmarks/bench.py --models lenet5,resnet20 --batch-size 128 --steps 20
    cnnzoo bench --help                            # the same

Writes benchmarks/results/results.json and results.md.
"""

import sys

from cnnzoo.bench.harness import main

if __name__ == "__main__":
    sys.exit(main())
