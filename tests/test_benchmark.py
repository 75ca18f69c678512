"""The benchmark harness runs (a smoke test: the numbers themselves are measured by
benchmarks/bench.py, not asserted here)."""

import argparse
import importlib.util
import json
import os

import pytest

from cnnzoo import cli
from cnnzoo.bench import harness as benchmark

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_one_case_and_the_report(tmp_path):
    case = dict(model="lenet5", batch_size=4, input_shape=(28, 28, 1), steps=2, repeats=2, warmup=1,
                modes=["train", "infer"], steps_per_execution=2)
    record = benchmark.run_case(case)
    # C1 28*28*6*25 + C3 10*10*16*150 + 400*120 + 120*84 + 84*10
    assert record["macs"] == 416_520 and record["setting"] == "spe=2"
    assert record["train"]["examples_per_s"] > 0 and len(record["infer"]["runs_examples_per_s"]) == 2
    achieved = record["train"]["examples_per_s"] * 6 * record["macs"]
    assert abs(record["train"]["flops_per_s"] / achieved - 1) < 1e-3
    keras_like = dict(record, model="keras_vgg16")
    pair = dict(record, model="cnnzoo_vgg16", train=dict(record["train"], examples_per_s=2 * record["train"]["examples_per_s"]))
    ratios = benchmark.ratios([pair, keras_like])
    assert ratios == {"cnnzoo_vgg16 / keras_vgg16 (batch 4, spe=2)": {"train": 2.0, "infer": 1.0}}
    report = {"machine": "test", "matmul_peak_flops": benchmark.matmul_peak(sizes=(128, 256), repeats=2), "cases": [record],
              "ratios": ratios, "pipelines": [], "command": "cnnzoo bench"}
    text = benchmark.markdown(report)
    assert "| lenet5 | 28x28x1 | 4 | spe=2 |" in text and "(batch 4, spe=2) | 2.000 | 1.000 |" in text


@pytest.mark.parametrize("steps,asked,used", [(3, 2, 3), (11, 4, 4)])
def test_pipeline_overhead_measures_both_sources(steps, asked, used):
    """Steps per execution as the engine's fit moves them: 3 steps in one execution, one iterator for the run;
    11 (no divisor near 4) in executions of 4, 4 and 3, an iterator an epoch."""
    record = benchmark.pipeline_overhead("mnist_lenet5", steps=steps, repeats=2, steps_per_execution=asked,
                                         background=True)
    assert record["steps"] == steps and record["batch_size"] == 128 and record["background"]
    assert record["steps_per_execution"] == used and record["one_iterator"] is (steps % used == 0)
    assert record["steps_per_s_in_memory"] > 0 and record["steps_per_s_pipeline"] > 0
    low, high = record["overhead_quartiles"]
    assert low <= record["overhead_fraction"] <= high
    assert record["cpu_ms_per_step_in_memory"] > 0 and record["cpu_ms_per_step_pipeline"] > 0
    assert record["pipeline_empty_model_us_per_step"] > 0 and record["in_memory_empty_model_us_per_step"] > 0
    text = benchmark.markdown({"machine": "m", "matmul_peak_flops": 1e9, "cases": [], "pipelines": [record],
                               "command": "cnnzoo bench"})
    iterators = "one for the run" if steps % used == 0 else "one an epoch"
    assert "| model | input |" not in text  # no model cases: no empty table
    assert f"| mnist_lenet5 | lenet5 | 128 | {steps} | {used} | {iterators} | yes | 2 |" in text and "% to " in text


@pytest.mark.parametrize("recipe", sorted(benchmark.PIPELINES))
def test_benchmarked_pipelines_are_the_recipes(recipe):
    spec = importlib.util.spec_from_file_location(recipe, os.path.join(ROOT, "recipes", f"{recipe}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config, bench = module.CONFIG, benchmark.PIPELINES[recipe]
    assert bench["model"] == config["model"] and bench["batch_size"] == config["batch_size"]
    assert tuple(bench["augment"]) == tuple(config.get("augment", ()))
    assert bench["crop_padding"] == config.get("crop_padding", 4)
    assert bench["mean"] == config.get("mean") and bench["std"] == config.get("std")
    from cnnzoo.training import TrainConfig

    assert benchmark.RECIPE_STEPS_PER_EXECUTION == TrainConfig.steps_per_execution


def test_settings_parse_and_bad_ones_are_named():
    assert benchmark.parse_setting("xla+spe=8") == {"jit_compile": True, "steps_per_execution": 8}
    assert benchmark.parse_setting("threads=2/1") == {"threads": [2, 1]}
    assert benchmark.setting_name(benchmark.parse_setting("mixed+threads=1/1")) == "mixed+threads=1/1"
    for bad in ("spe=0", "xla=1", "fast", "threads=2"):
        with pytest.raises(ValueError, match=f"Received: '{bad}'"):
            benchmark.parse_setting(bad)


def test_bench_help_documents_it(capsys):
    parser = argparse.ArgumentParser()
    benchmark.build_parser(parser)
    help_text = parser.format_help()
    assert "--models" in help_text and "--batch-size" in help_text and "--settings" in help_text
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--help"])
    assert e.value.code == 0
    assert "keras.applications" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--batch-size must be positive integers.*'0'"):
        cli.main(["bench", "--batch-size", "0"])


def test_bad_pipeline_steps_are_named():
    with pytest.raises(SystemExit, match="--pipeline-steps entries are NAME=STEPS.*Received: 'cifar10_resnet=0'"):
        cli.main(["bench", "--models", "", "--pipeline-steps", "cifar10_resnet=0"])


@pytest.mark.slow
def test_bench_command_writes_its_report(tmp_path):
    out = tmp_path / "report"
    assert cli.main(["bench", "--models", "lenet5", "--batch-size", "2", "--steps", "1", "--repeats", "1", "--warmup", "0",
                     "--modes", "train", "--no-pipelines", "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    assert report["cases"][0]["model"] == "lenet5" and report["cases"][0]["train"]["examples_per_s"] > 0
    assert "| lenet5 | 28x28x1 | 2 | base |" in (out / "results.md").read_text()
    assert report["command"] == ("cnnzoo bench --models lenet5 --batch-size 2 --steps 1 --repeats 1 --warmup 0 "
                                 f"--modes train --no-pipelines --out {out}")


def test_pipeline_parts_script_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("pipeline_parts", os.path.join(ROOT, "benchmarks", "pipeline_parts.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--steps", "32", "--repeats", "1", "--out", str(tmp_path)])
    assert len(report["rows"]) == 6 and all(row["us_per_step"] > 0 for row in report["rows"])
    assert "| + crop (the recipe's pipeline) |" in (tmp_path / "results.md").read_text()
