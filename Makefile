# One entry point: `make demo` and `make test` work on a fresh machine.
# They create .venv if missing, install the CPU build of PyTorch first (a bare `torch`
# requirement would pull a multi-GB CUDA build), then the project with its dev extras.

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) examples/warm_kernels.py  # numba compiles the emulator kernels once, here
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/cli_startup.py
	$(PY) bench/parse_print.py --repeat 5
	$(PY) bench/conversion.py
	$(PY) bench/xylo_emulator.py
	$(PY) bench/dynapse_emulator.py
	$(PY) bench/dynapse_quantization.py
	$(PY) bench/allocation.py
	$(PY) bench/retune.py --distil --histogram retune.png

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
