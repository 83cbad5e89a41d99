# One entry point for people and CI.  `make test` sets up .venv and runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
FER2013_CSV ?= $(abspath ../shared/data/fer2013.csv.gz)
export FER2013_CSV

.PHONY: setup test bench book clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

test: setup
	$(PY) -m pytest -q -ra

bench: setup
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf _build book/_build
