"""Measurements: the benchmark harness behind ``cnnzoo bench`` (`harness`: timing in fresh processes,
pipelines, utilisation, reports). ``python -m cnnzoo.bench`` is the same as ``cnnzoo bench``; the
scripts in the repository's ``benchmarks/`` are built on it.
"""
