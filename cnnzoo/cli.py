"""The ``cnnzoo`` command."""

import argparse
import os
import sys

# Quiet TensorFlow's C++ start-up log unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _list(args):
    import numpy as np

    import cnnzoo

    names = cnnzoo.list_models(args.pattern)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
    print(f"{'model':<12} {'trainable params':>17}  default input")
    for name in names:
        model = cnnzoo.get_model(name)
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"{name:<12} {params:>17,}  {model.input_shape[1:]}")
    return 0


def build_parser():
    import cnnzoo

    parser = argparse.ArgumentParser(
        prog="cnnzoo", description="Classic convolutional networks for Keras 3."
    )
    parser.add_argument("--version", action="version", version=f"cnnzoo {cnnzoo.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("list", help="list the registered models with their parameters")
    listing.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'resnet*'")
    listing.set_defaults(run=_list)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
