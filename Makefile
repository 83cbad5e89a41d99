# One entry point for people and CI.  `make test` sets up .venv and runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
FER2013_CSV ?= $(abspath ../shared/data/fer2013.csv.gz)
export FER2013_CSV

DATA ?=
DEVICE ?= auto
REPORT_DIR ?= _report

.PHONY: setup test bench book report clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# one worker per core (pytest-xdist); TEST_WORKERS=0 runs the suite in this process
TEST_WORKERS ?= auto
test: setup
	$(PY) -m pytest -q -ra --durations=12 -n $(TEST_WORKERS)

# Execute every chapter with papermill (in _toc.yml order) into $(REPORT_DIR); only a complete
# run is copied over book/. Training resumes from runs/ when repeated.
report: setup
	$(PY) -m fer_lib report --data "$(DATA)" --device $(DEVICE) --out $(REPORT_DIR) --publish

# Build the HTML from the committed notebooks (never re-executed), from scratch, warnings as errors.
book: setup
	rm -rf book/_build
	$(VENV)/bin/jupyter-book build book -W -n --keep-going
	@echo "open book/_build/html/index.html"

bench: setup
	$(PY) benchmarks/bench_attribution.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf _build book/_build $(REPORT_DIR)
