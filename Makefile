# make test: virtualenv + pip install -e .[dev] + pytest, on a fresh clone.
# make demo: the main job (the MNIST LeNet-5 recipe, once it exists).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: test test-slow test-backends lint demo venv venv-torchvision venv-jax venv-onnx mutate clean

venv: $(STAMP)

# PYTHONWARNINGS: setuptools' build warnings (its "Editable installation" banner) are not the user's business.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The optional extra for tests/test_torchvision.py (cnnzoo against torchvision itself). These versions
# are the ones pip takes from this project's machines' local disk; any other downloads several GB.
TORCH_STAMP := $(VENV)/.torchvision-stamp
venv-torchvision: $(TORCH_STAMP)

$(TORCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	touch $(TORCH_STAMP)

# The onnx extra (pyproject.toml): tests/test_transfer.py's ONNX exports run against ONNX Runtime with it.
ONNX_STAMP := $(VENV)/.onnx-stamp
venv-onnx: $(ONNX_STAMP)

$(ONNX_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[onnx]"
	touch $(ONNX_STAMP)

# Mutation testing (scripts/mutate.py): mutmut over the modules where a silent bug costs users most, each against
# the fast tests that cover it, in a scratch copy of the committed tree; writes docs/mutation.md. MODULES= limits it
# (make mutate MODULES=cnnzoo/data/idx.py).
MUTATE_STAMP := $(VENV)/.mutate-stamp
MODULES ?=

$(MUTATE_STAMP): $(STAMP)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[mutate]"
	touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(PY) scripts/mutate.py $(MODULES)

# JAX for the other-backend suite (make test-backends); torch comes with venv-torchvision.
JAX_STAMP := $(VENV)/.jax-stamp
venv-jax: $(JAX_STAMP)

$(JAX_STAMP): $(STAMP)
	$(PY) -m pip install --quiet jax jaxlib
	touch $(JAX_STAMP)

# Everything but the tests marked slow (kill -9 and resume runs, fine-tuning runs, multi-process
# training, every recipe's --smoke run, GoogLeNet's auxiliary-loss training): those are `make
# test-slow`; CI runs both (.ci/run).
# -rs: say why a test was skipped (the torchvision extra); two workers (tracing is mostly single-threaded).
test: lint
	$(PY) -m pytest -q -rs -n 2 -m "not slow" --durations=10

# ruff (its settings in pyproject.toml: pyflakes, pycodestyle at 120 characters, sorted imports);
# `make test` runs it first.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# --dist loadgroup: the tests marked xdist_group("memory") run one after another on one worker (R(2+1)D-18's ONNX
# conversion alone peaks at 7.6 GB; two heavy tests side by side took the two workers to 12.5 + 11.1 GB and the kernel
# killed one on this 24 GB machine), the others as before.
test-slow: $(STAMP)
	$(PY) -m pytest -q -rs -n 2 --dist loadgroup -m slow --durations=10

# The models, blocks, engine, detection and the channels-first networks on JAX and on PyTorch (`make test` runs them
# on TensorFlow, whose CPU kernels have no channels-first convolution). The two backends run side by side, each in one
# process (JAX compiles each shape once a process); XLA's backend optimization level 0 compiles faster (GoogLeNet's
# training step 9.2 -> 5.4 s here; benchmarks/README.md), and the suite times nothing.
BACKEND_TESTS := tests/test_backends.py tests/test_detection.py tests/test_data_format.py
test-backends: $(TORCH_STAMP) $(JAX_STAMP)
	mkdir -p .test-backends
	KERAS_BACKEND=torch $(PY) -m pytest -q -rs -p no:xdist $(BACKEND_TESTS) >.test-backends/torch.log 2>&1 & \
	XLA_FLAGS=--xla_backend_optimization_level=0 KERAS_BACKEND=jax $(PY) -m pytest -q -rs -p no:xdist \
		$(BACKEND_TESTS) >.test-backends/jax.log 2>&1; jax=$$?; wait $$!; torch=$$?; \
	echo "== KERAS_BACKEND=jax"; tail -n 30 .test-backends/jax.log; echo "== KERAS_BACKEND=torch"; \
	tail -n 30 .test-backends/torch.log; test $$jax -eq 0 -a $$torch -eq 0

# The main job: LeNet-5 on MNIST. Uses CNNZOO_DATA_DIR (or ../shared/data when present),
# else tensorflow-datasets' cache, else the small sample bundled with cnnzoo (announced loudly).
DEMO_DATA := $(or $(CNNZOO_DATA_DIR),$(wildcard ../shared/data))
DEMO_ARGS ?= --epochs 3

demo: $(STAMP)
	CNNZOO_DATA_DIR=$(DEMO_DATA) $(PY) recipes/mnist_lenet5.py $(DEMO_ARGS) --out runs/demo

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
