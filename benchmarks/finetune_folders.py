"""Fine-tuning from image folders at scale: memory, input pipeline cost, decode rate, time to first step.

    python benchmarks/finetune_folders.py --data-dir ../shared/data            # 2,000 and 20,000 images
    python benchmarks/finetune_folders.py --sizes 200,2000 --steps 4 --repeats 2  # a quick look

Writes folders of JPEG images (real MNIST training digits, upscaled to 224x224 RGB,
quality 90, one folder per digit; once, kept under --work) and measures, each in a
fresh process:

1. peak RSS of `cnnzoo finetune` (resnet18 at 224x224, batch 32, the pretrained-weights
   training transform: random-resized crop + flip, ImageNet mean/std) for --steps
   training steps, on each folder, with the same 200-image --val-folder: the streamed
   pipeline should make it independent of the folder's size (target: within 10%);
2. time from the start of the run to the end of the first training step (scan,
   model, pipeline, first batch);
3. the input pipeline's cost in resnet18's training step, measured as `cnnzoo bench`
   measures the recipes' pipelines (`benchmark.paired_pipeline_overhead`: in-memory
   batches and the pipeline in ABBA turns of one execution; target < 5%);
4. the pipeline's decode rate alone (images/s, drained without a model).

Results: benchmarks/results/finetune_folders/results.{json,md}.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "finetune_folders")
IMAGE_SIZE = 224
BATCH = 32


def write_folder(root, count, data_dir, split="train", offset=0):
    """``count`` MNIST digits of ``split`` as 224x224 RGB JPEGs in ``root/<digit>/``; reused when complete."""
    import numpy as np
    from PIL import Image

    from cnnzoo.data import load_arrays

    marker = os.path.join(root, f".complete_{count}")
    if os.path.exists(marker):
        return root
    digits = load_arrays("mnist", split, data_dir=data_dir)
    for d in range(10):
        os.makedirs(os.path.join(root, str(d)), exist_ok=True)
    for i in range(count):
        image = digits.images[offset + i % (len(digits) - offset), ..., 0]
        rgb = np.repeat(image[..., None], 3, axis=-1)
        label = int(digits.labels[offset + i % (len(digits) - offset)])
        Image.fromarray(rgb).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR).save(
            os.path.join(root, str(label), f"{i:06d}.jpg"), quality=90)
    open(marker, "w").close()
    return root


def finetune_worker(folder, val, steps, out):
    """In this process: `cnnzoo finetune` for ``steps`` steps; prints the time to the first step."""
    import keras

    import cnnzoo

    started = time.perf_counter()
    first = {}

    class FirstStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            first.setdefault("s", time.perf_counter() - started)

    config = cnnzoo.FinetuneConfig(epochs_head=1, epochs_finetune=0, steps_per_epoch=steps, batch_size=BATCH,
                                   augment="random_resized_crop", verbose=0)
    record = cnnzoo.finetune("resnet18", folder, val=val, config=config, out_dir=out, callbacks=[FirstStep()]).record
    print(json.dumps({"first_step_s": round(first["s"], 2), "total_s": round(time.perf_counter() - started, 2),
                      "train_examples": record["train_examples"]}))


def pipeline_worker(folder, steps, repeats):
    """In this process: resnet18's training step with the folder pipeline vs in-memory batches; decode rate."""
    import cnnzoo
    from cnnzoo.bench import harness as benchmark
    from cnnzoo.data.folder import image_folder_pipeline, scan_folder
    from cnnzoo.training.engine import steps_per_execution_for

    files = scan_folder(folder)
    settings = dict(augment="random_resized_crop", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    out = {}
    for background in (True, False):
        pipe = image_folder_pipeline(files, (IMAGE_SIZE, IMAGE_SIZE), training=True, batch_size=BATCH,
                                     background=background, **settings)
        iterator = iter(pipe.repeat())
        next(iterator)
        start, batches = time.perf_counter(), 20
        for _ in range(batches):
            next(iterator)
        out[f"decode_images_per_s_{'background' if background else 'inline'}"] = round(
            batches * BATCH / (time.perf_counter() - start), 1)
    pipe = image_folder_pipeline(files, (IMAGE_SIZE, IMAGE_SIZE), training=True, batch_size=BATCH, **settings)
    model = cnnzoo.resnet18(classes=10)
    paired = benchmark.paired_pipeline_overhead(model, pipe, steps, repeats, steps_per_execution_for(steps, 2))
    paired.pop("_sources")
    print(json.dumps({**out, **paired}))


def _child(argv):
    """Runs this script with ``argv`` in a fresh process: (its JSON line, its peak RSS in MiB)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), round(usage.ru_maxrss / 1024, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="MNIST's IDX files (default: CNNZOO_DATA_DIR)")
    parser.add_argument("--work", default="/tmp/cnnzoo_finetune_folders", help="where the image folders go")
    parser.add_argument("--sizes", default="2000,20000", help="folder sizes (images)")
    parser.add_argument("--steps", type=int, default=8, help="training steps of each fine-tuning run")
    parser.add_argument("--repeats", type=int, default=4, help="epochs of --steps per source in the cost measurement")
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--worker", choices=("finetune", "pipeline"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--val", help=argparse.SUPPRESS)
    parser.add_argument("--run-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "finetune":
        return finetune_worker(args.folder, args.val, args.steps, args.run_out)
    if args.worker == "pipeline":
        return pipeline_worker(args.folder, args.steps, args.repeats)

    sizes = [int(s) for s in args.sizes.split(",")]
    val = write_folder(os.path.join(args.work, "val_200"), 200, args.data_dir, split="test")
    rows = []
    for n in sizes:
        start = time.perf_counter()
        folder = write_folder(os.path.join(args.work, f"train_{n}"), n, args.data_dir)
        print(f"folder of {n} images ready ({time.perf_counter() - start:.0f} s)", flush=True)
        run_out = os.path.join(args.work, f"run_{n}")
        shutil.rmtree(run_out, ignore_errors=True)  # a finished run would be resumed, not run
        record, rss = _child(["--worker", "finetune", "--folder", folder, "--val", val, "--steps", str(args.steps),
                              "--run-out", run_out])
        rows.append({"images": n, "peak_rss_mib": rss, **record})
        print(rows[-1], flush=True)
    cost, _ = _child(["--worker", "pipeline", "--folder", os.path.join(args.work, f"train_{max(sizes)}"),
                      "--steps", str(args.steps), "--repeats", str(args.repeats)])
    print(cost, flush=True)
    low, high = min(r["peak_rss_mib"] for r in rows), max(r["peak_rss_mib"] for r in rows)
    typed = argv if argv is not None else sys.argv[1:]
    report = {"command": "python benchmarks/finetune_folders.py " + " ".join(typed),
              "runs": rows, "rss_spread": round(high / low - 1, 4), "pipeline": cost,
              "environment": __import__("cnnzoo.training.results", fromlist=["x"]).environment()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    lines = [f"Command: `{report['command']}`", "",
             "| images | peak RSS (MiB) | time to first step (s) | run total (s) |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['images']:,} | {r['peak_rss_mib']:,} | {r['first_step_s']} | {r['total_s']} |" for r in rows]
    lines += ["", f"Peak RSS spread: {100 * report['rss_spread']:.1f}% (target < 10%).", "",
              f"resnet18 at 224, batch {BATCH}: pipeline cost {100 * cost['overhead_fraction']:.1f}% of the training "
              f"step (quartiles {', '.join(f'{100 * q:.1f}%' for q in cost['overhead_quartiles'])}; target < 5%); "
              f"{cost['steps_per_s_pipeline']} vs {cost['steps_per_s_in_memory']} steps/s.",
              f"Decode rate alone: {cost['decode_images_per_s_background']} images/s on background threads, "
              f"{cost['decode_images_per_s_inline']} in-line."]
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
