"""The benchmark harness runs (a smoke test: the numbers themselves are measured by
benchmarks/bench.py, not asserted here)."""

import argparse

from cnnzoo import benchmark, cli


def test_one_case_and_the_report(tmp_path):
    case = dict(model="lenet5", batch_size=4, input_shape=(28, 28, 1), steps=1, repeats=2, warmup=1,
                modes=["train", "infer"])
    record = benchmark.run_case(case)
    # C1 28*28*6*25 + C3 10*10*16*150 + 400*120 + 120*84 + 84*10
    assert record["macs"] == 416_520
    assert record["train"]["examples_per_s"] > 0 and len(record["infer"]["runs_examples_per_s"]) == 2
    achieved = record["train"]["examples_per_s"] * 6 * record["macs"]
    assert abs(record["train"]["flops_per_s"] / achieved - 1) < 1e-3
    report = {"machine": "test", "matmul_peak_flops": benchmark.matmul_peak(n=256, repeats=2), "cases": [record],
              "ratios": {"a / b": {"train": 1.0, "infer": 1.0}}, "pipelines": [], "command": "cnnzoo bench"}
    text = benchmark.markdown(report)
    assert "| lenet5 | 28x28x1 | 4 |" in text and "a / b" in text


def test_bench_help_documents_it(capsys):
    parser = argparse.ArgumentParser()
    benchmark.build_parser(parser)
    help_text = parser.format_help()
    assert "--models" in help_text and "--batch-size" in help_text
    try:
        cli.main(["bench", "--help"])
    except SystemExit as e:
        assert e.code == 0
    assert "keras.applications" in capsys.readouterr().out
