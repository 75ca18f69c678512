"""The ``cnnzoo`` command: ``train``, ``recipes``, ``list``, ``summary``, ``viz``, ``finetune``, ``predict``,
``evaluate``, ``conv``, ``export``, ``bench``.

Parsing loads no framework (``cnnzoo --help`` answers at once: the package loads lazily when run
as this command); a command loads cnnzoo, and TensorFlow, when it runs.
"""

import argparse
import json
import os
import sys


class CommandError(Exception):
    """A user error: printed as ``cnnzoo: error: ...`` with exit status 2."""


def parse_shape(text):
    """``"224,224,3"`` or ``"224x224x3"`` -> (224, 224, 3) (`cnnzoo.shapes.parse_shape`, every command's)."""
    from cnnzoo.shapes import parse_shape as parse

    try:
        return parse(text, "--input-shape")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _load(model_arg, input_shape=None):
    import keras

    import cnnzoo

    if model_arg.endswith(".keras") or os.path.isdir(model_arg):
        if not os.path.isfile(model_arg):
            raise CommandError(f"no such model file: {model_arg}")
        return keras.saving.load_model(model_arg, compile=False)
    if model_arg not in cnnzoo.list_models():
        try:
            cnnzoo.get_model(model_arg)
        except ValueError as e:
            raise CommandError(str(e)) from None
    kwargs = {} if input_shape is None else {"input_shape": input_shape}
    try:
        return cnnzoo.get_model(model_arg, **kwargs)
    except (ValueError, TypeError) as e:
        raise CommandError(str(e)) from None


def _list(args):
    """The recorded model table (`cnnzoo.inspect.model_table`): no model built, no framework loaded."""
    from cnnzoo.inspect import model_table

    rows = model_table.list_table(args.pattern)
    if not rows:
        raise CommandError(f"no model matches {args.pattern!r}; see 'cnnzoo list'")
    print(model_table.format_table(rows))
    return 0


def _summary(args):
    from cnnzoo.inspect.analysis import summary

    model = _load(args.model, args.input_shape if not args.model.endswith(".keras") else None)
    try:
        result = summary(model, input_shape=args.input_shape if args.model.endswith(".keras") else None)
    except ValueError as e:
        raise CommandError(str(e)) from None
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


def _image(path, model):
    import numpy as np

    from cnnzoo.inspect import pictures as viz

    if path is None:
        image, _ = viz.sample_image()
    else:
        import keras

        if not os.path.exists(path):
            raise CommandError(f"no such image: {path}")
        image = keras.utils.img_to_array(keras.utils.load_img(path))
    shape = model.input.shape[1:]
    if len(shape) == 3:
        import tensorflow as tf

        image = tf.image.resize(np.asarray(image, "float32"), shape[:2]).numpy() if None not in shape[:2] else image
        if image.shape[-1] != shape[-1]:
            image = image.mean(axis=-1, keepdims=True) if shape[-1] == 1 else np.repeat(image[..., :1], shape[-1], -1)
    return np.asarray(image, "float32")


def _viz(args):
    from cnnzoo.inspect import pictures as viz

    if os.path.isdir(args.out):
        raise CommandError(f"--out is a folder; give the path of the .png file to write. Received: --out {args.out}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.what == "im2col":
        from cnnzoo.learn import pictures

        print(pictures.plot_im2col(args.out))
        return 0
    if args.what == "shift":
        return _viz_shift(args)
    if args.what == "kernels":
        if args.image is None:
            image = viz.sample_image()[0][..., 0]
        else:
            import keras

            if not os.path.exists(args.image):
                raise CommandError(f"no such image: {args.image}")
            image = keras.utils.img_to_array(keras.utils.load_img(args.image, color_mode="grayscale"))[..., 0]
        path = viz.plot_kernels(image, args.out)
    else:
        if not args.model:
            raise CommandError(f"'cnnzoo viz {args.what}' needs --model NAME or a .keras file")
        model = _load(args.model, args.input_shape)
        if args.what == "filters":
            path = viz.plot_filters(model, args.out, layer_name=args.layer)
        elif args.what == "features":
            layers = args.layer.split(",") if args.layer else None
            path = viz.plot_feature_maps(model, _image(args.image, model), args.out, layer_names=layers)
        else:
            if not args.layer:
                raise CommandError("'cnnzoo viz receptive-field' needs --layer NAME")
            try:
                path = viz.plot_receptive_field(model, _image(args.image, model), args.layer, args.out)
            except ValueError as e:
                raise CommandError(str(e)) from None
    print(path)
    return 0


def _viz_shift(args):
    """Equivariance and invariance of a trained model on real MNIST test digits shifted 0..4 pixels."""
    from cnnzoo import data
    from cnnzoo.learn import pictures

    if not args.model:
        raise CommandError("'cnnzoo viz shift' needs --model: a trained LeNet-5 .keras file "
                           "(python recipes/mnist_lenet5.py writes runs/mnist_lenet5/final.keras)")
    model = _load(args.model)
    try:
        test = data.load_arrays("mnist", "test", allow_sample=True)
        result = pictures.shift_experiment(model, test.images[:500].astype("float32") / 255.0)
    except ValueError as e:
        raise CommandError(str(e)) from None
    print(f"{'shift':>5} {'conv equivariance error':>24} {'conv change':>12} {'pooled change':>14} "
          f"{'output change':>14} {'same class':>11}")
    for i, shift in enumerate(result["shifts"]):
        print(f"{shift:>5} {result['conv_equivariance_error'][i]:>24.4f} {result['conv_change'][i]:>12.4f} "
              f"{result['pooled_change'][i]:>14.4f} {result['output_change'][i]:>14.4f} "
              f"{100 * result['same_prediction'][i]:>10.1f}%")
    print(pictures.plot_shift(result, args.out))
    return 0


def _finetune(args):
    from cnnzoo.training import finetune

    try:
        result = finetune.run_command(args)
    except (ValueError, OSError, TypeError) as e:  # OSError: a pretrained file that could not be downloaded
        raise CommandError(_flag_names(str(e))) from None
    finetune.print_result(result)
    return 0


def _flag_names(message):
    """A `FinetuneConfig` error as the command line says it: ``lr_head must ... Received: lr_head=0`` ->
    ``--lr-head must ... Received: --lr-head 0``.
    """
    import dataclasses
    import re

    from cnnzoo.training.finetune import FinetuneConfig

    for f in dataclasses.fields(FinetuneConfig):
        flag = "--" + f.name.replace("_", "-")
        message = re.sub(rf"(?<![\w-]){f.name}=", flag + " ", message)
        message = re.sub(rf"^{f.name}\b", flag, message)
    return message


def _print_detections(path, found, annotate):
    for box, name, score in zip(found.boxes, found.names, found.scores):
        print(f"  {score:7.2%}  {name:<16} ({', '.join(f'{v:.0f}' for v in box)})")
    if not len(found):
        print("  (nothing above --min-score)")
    if annotate and os.path.isfile(path):
        from cnnzoo.inspect.pictures import draw_detections

        os.makedirs(annotate, exist_ok=True)
        target = os.path.join(annotate, os.path.splitext(os.path.basename(path))[0] + ".boxes.png")
        print(f"  annotated: {draw_detections(path, found, target)}")


def _predict(args):
    from cnnzoo.detection import is_detector
    from cnnzoo.prediction import detect_each, predict_each, resolve_model

    if args.top_k < 1:
        raise CommandError(f"--top-k must be positive. Received: {args.top_k}")
    if not 0 <= args.min_score <= 1:
        raise CommandError(f"--min-score must be in [0, 1]. Received: {args.min_score}")
    labels = _read_labels(args.labels)
    if args.model.endswith((".keras", ".h5")) and not os.path.isfile(args.model):
        raise CommandError(f"no such model file: {args.model}")
    failed = 0
    try:
        net = resolve_model(args.model, args.weights)
        if is_detector(net):
            results = detect_each(net, args.images, weights=args.weights, labels=labels,
                                  score_threshold=args.min_score)
        else:
            results = predict_each(net, args.images, top_k=args.top_k, weights=args.weights, labels=labels)
        for path, result in results:
            if isinstance(result, str):
                print(f"{path}: {result}")
                failed += 1
                continue
            print(path)
            if not isinstance(result, list):  # a detector's Detections
                _print_detections(path, result, args.annotate)
                continue
            for name, prob in result:
                print(f"  {prob:7.2%}  {name}")
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from None
    if failed:  # what could be predicted was printed; the command did not do all it was asked
        print(f"cnnzoo: error: {failed} of the inputs could not be read (named above)", file=sys.stderr)
        return 1
    return 0


def _evaluate(args):
    from cnnzoo.prediction import evaluate

    labels = _read_labels(args.labels)
    if args.model.endswith((".keras", ".h5")) and not os.path.isfile(args.model):
        raise CommandError(f"no such model file: {args.model}")
    try:
        result = evaluate(args.model, args.folder, weights=args.weights, labels=labels, batch_size=args.batch_size,
                          confusion_picture=args.confusion)
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from None
    print(result)
    return 0


def _read_labels(path):
    """The class names of a ``--labels`` JSON file (None without one)."""
    if not path:
        return None
    try:
        with open(path) as f:
            labels = json.load(f)
    except (OSError, ValueError) as e:
        raise CommandError(f"--labels must be a readable JSON list of class names ({e}). "
                           f"Received: --labels {path}") from None
    if not isinstance(labels, list):
        raise CommandError(f"--labels must hold a JSON list of class names. Received: --labels {path}")
    return labels


def _conv(args):
    from cnnzoo.learn import conv_arithmetic, format_arithmetic
    from cnnzoo.shapes import check_channels_last
    from cnnzoo.shapes import parse_shape as parse

    try:
        shape = check_channels_last(parse(args.input, "--input"), "--input")
    except ValueError as e:
        raise CommandError(str(e)) from None
    try:
        rows = conv_arithmetic(shape, args.layers)
    except ValueError as e:
        raise CommandError(str(e)) from None
    if args.json:
        import dataclasses

        print(json.dumps([{**dataclasses.asdict(r), "spec": dataclasses.asdict(r.spec)} for r in rows], indent=1))
    else:
        print(format_arithmetic(shape, rows))
    return 0


def _export(args):
    from cnnzoo.export import ExportError, export

    if not os.path.exists(args.model):
        raise CommandError(f"no such model file: {args.model}")
    try:
        diff = export(args.model, args.format, args.out)
    except ExportError as e:
        raise CommandError(str(e)) from None
    print(f"wrote {args.out} ({args.format}); max |difference| from Keras on a sample input: {diff:.2e}")
    return 0


def _recipes(args):
    from cnnzoo import recipes

    measured = recipes.measured()
    for name in recipes.list_recipes():
        what, target = recipes.describe(name)
        print(f"{name}\n    {what}\n    target: {target or '-'}")
        rows = measured.get(name, [])
        for row in rows:
            print(f"    measured: {row}")
        if not rows:
            print("    measured: not measured here")
    print("\nRun one: cnnzoo train NAME [--epochs N] [--override KEY=VALUE ...] (cnnzoo train NAME --help); "
          "any model on a dataset: cnnzoo train --model NAME --dataset mnist|fashion_mnist|cifar10|cifar100")
    return 0


def _train(argv):
    """``cnnzoo train RECIPE [options]`` or ``cnnzoo train --model M --dataset D [options]``."""
    from cnnzoo import recipes

    if not argv or argv[0] in ("-h", "--help"):
        print("usage: cnnzoo train RECIPE [options]   (cnnzoo train RECIPE --help: the recipe's options)\n"
              "       cnnzoo train --model NAME --dataset mnist|fashion_mnist|cifar10|cifar100 [options]\n\n"
              f"recipes: {', '.join(recipes.list_recipes())} (cnnzoo recipes: targets and results)")
        return 0
    if argv[0].startswith("-"):
        from cnnzoo.recipes import generic

        return generic.main(list(argv), prog="cnnzoo train")
    try:
        return recipes.main(argv[0], list(argv[1:]), prog=f"cnnzoo train {argv[0]}")
    except ValueError as e:
        if "no recipe" not in str(e):
            raise
        print(f"cnnzoo train: error: {e}", file=sys.stderr)
        return 2


def _bench_model(argv):
    """``cnnzoo bench MODEL [--peer torchvision]``: one model beside its peers on this Keras backend, no TensorFlow
    imported unless it is the backend (`cnnzoo.bench.peers`).
    """
    from cnnzoo.bench import peers

    args = peers.build_parser(argparse.ArgumentParser(prog="cnnzoo bench", description=peers.__doc__,
                                                      formatter_class=argparse.RawDescriptionHelpFormatter))
    args = args.parse_args(argv)
    try:
        return peers.run(args)
    except ValueError as e:
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 2


def build_parser():
    """The ``cnnzoo`` command line: one sub-command per task."""
    import cnnzoo

    parser = argparse.ArgumentParser(prog="cnnzoo", description="Classic convolutional networks for Keras 3.")
    parser.add_argument("--version", action="version", version=f"cnnzoo {cnnzoo.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("train", help="run a recipe (cnnzoo train RECIPE --help), or --model NAME --dataset NAME",
                        add_help=False)
    p = commands.add_parser("recipes", help="the recipes, with their targets and measured results")
    p.set_defaults(run=_recipes)

    p = commands.add_parser("list", help="every model: family, parameters and MACs at its default input, pretrained "
                                         "weights")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'resnet*'")
    p.set_defaults(run=_list)

    p = commands.add_parser("summary", help="per-layer shapes, parameters, MACs and receptive fields")
    p.add_argument("model", help="a registered model name or a .keras file")
    p.add_argument("--input-shape", type=parse_shape, default=None,
                   help="e.g. 224x224x3 or 224,224,3 (default: the model's)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=_summary)

    p = commands.add_parser("viz", help="write a picture (PNG)")
    p.add_argument("what", choices=("filters", "features", "receptive-field", "kernels", "im2col", "shift"))
    p.add_argument("--model", help="a registered model name or a .keras file")
    p.add_argument("--input-shape", type=parse_shape, default=None)
    p.add_argument("--image", help="an image file (default: a real MNIST test digit bundled with cnnzoo)")
    p.add_argument("--layer", help="layer name (features: comma-separated names)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(run=_viz)

    from cnnzoo.training import finetune

    p = commands.add_parser("finetune", help="fine-tune a model on a folder of your own images or clips")
    finetune.add_arguments(p)
    p.set_defaults(run=_finetune)

    p = commands.add_parser("predict", help="top-k classes of images (a detector: their boxes) with a saved or a "
                                            "pretrained model")
    p.add_argument("model", help="a .keras file (a fine-tuned one carries its classes and preprocessing), or a "
                                 "registered model name with pretrained weights (resnet50)")
    p.add_argument("images", nargs="+", help="image files or folders of them")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--labels", help="a JSON list of class names (.keras models)")
    p.add_argument("--weights", default=None, help="for a model name: the weight set (default: 'imagenet'; "
                                                   "'coco' for a detector); its preprocessing and class names are "
                                                   "used")
    p.add_argument("--min-score", type=float, default=0.5,
                   help="a detector's boxes scoring at least this are printed (default: 0.5)")
    p.add_argument("--annotate", metavar="DIR", default=None,
                   help="a detector: write each image with its boxes drawn to DIR/<name>.boxes.png (images "
                        "under 400 pixels enlarged so the labels can be read)")
    p.set_defaults(run=_predict)

    p = commands.add_parser("evaluate", help="accuracy, per class and overall, of a model on a labelled folder, and "
                                             "its confusion matrix (PNG)")
    p.add_argument("model", help="a .keras file (a fine-tuned one carries its classes and preprocessing), or a "
                                 "registered model name with pretrained weights")
    p.add_argument("folder", help="one sub-folder of images per class, named as the model's classes")
    p.add_argument("--weights", default=None, help="for a model name: the weight set (default: 'imagenet')")
    p.add_argument("--labels", help="a JSON list of the model's class names (when it carries none)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--confusion", default="confusion.png", help="the confusion-matrix picture to write")
    p.set_defaults(run=_evaluate)

    p = commands.add_parser(
        "conv", help="output size, parameters, MACs and receptive field of layers, with the formulas",
        description="Convolution arithmetic with the working shown. Layers: 'conv K F [s2] [p1|same|valid] "
                    "[d2] [g2]', 'pool K [s2] [p1] [max|avg]', 'maxpool K', 'avgpool K', "
                    "comma-separated; K is 3 or 3x3.")
    p.add_argument("--input", required=True, help="input shape, e.g. 32x32x3 (H x W x C), 100x8 (L x C), 16x112x112x3")
    p.add_argument("--layers", required=True,
                   help="e.g. 'conv 5x5 10 p2' or 'conv 3x3 64 same, conv 3x3 64 same, pool 2'")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(run=_conv)

    from cnnzoo.export import FORMATS

    p = commands.add_parser("export", help="export a .keras model, checked against Keras's output")
    p.add_argument("model", help="a .keras file")
    p.add_argument("--format", choices=FORMATS, required=True)
    p.add_argument("--out", required=True, help="output path (a folder for savedmodel)")
    p.set_defaults(run=_export)

    from cnnzoo.bench import harness as benchmark

    p = commands.add_parser("bench", help="throughput and utilisation: cnnzoo bench MODEL [--peer torchvision] (any "
                                          "backend), or the CPU sweep against keras.applications",
                            description=benchmark.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchmark.build_parser(p)
    p.set_defaults(run=benchmark.main_bench)
    return parser


def main(argv=None):
    """Runs ``cnnzoo COMMAND``; returns the exit status (errors print one line, status 2)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "train":  # the recipe parses its own command line
        return _train(argv[1:])
    if argv[:1] == ["bench"] and len(argv) > 1 and not argv[1].startswith("-"):
        return _bench_model(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # the command as given (reports record it)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command not in ("recipes", "list"):  # these two read recorded tables: no framework
        import cnnzoo

        cnnzoo.load()  # the `cnnzoo` command imports the package lazily: load it before running a command
    try:
        return args.run(args)
    except BrokenPipeError:  # the reader went away (cnnzoo recipes | head): nothing more to say
        return 0
    except CommandError as e:
        if args.debug:
            raise
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # one error path: a user sees one line; --debug shows the traceback
        if args.debug:
            raise
        lines = [line for line in str(e).strip().splitlines() if line.strip()] or [type(e).__name__]
        print(f"cnnzoo: error: {lines[0]}" + (f" ({type(e).__name__})" if type(e).__name__ not in lines[0] else "")
              + " (--debug shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
