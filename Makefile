# One entry point for people and CI.  `make test` sets up .venv and runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
FER2013_CSV ?= $(abspath ../shared/data/fer2013.csv.gz)
export FER2013_CSV

DATA ?=
DEVICE ?= auto
REPORT_DIR ?= _report
PARAMS ?=  # notebook parameters for `make report`, KEY=VALUE separated by spaces (use_pretrained=true)

.PHONY: setup book-setup test test-numbers lint bench book book-linkcheck report clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml fer_report/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# the library with its test tools, then the report's own package (chapters, runner, book tools)
	$(PY) -m pip install -q -e ".[dev]" -e ./fer_report
	touch $@

# one worker per core (pytest-xdist); TEST_WORKERS=0 runs the suite in this process
TEST_WORKERS ?= auto
test: setup lint
	$(PY) -m pytest -q -ra --durations=12 -n $(TEST_WORKERS) -m "not numbers"

# simple_cnn's, fer_vgg_s's and fer_vgg's shipped accuracies (plain, flip, ten-crop on both test
# splits) recomputed on every face; `make test` does the same for report_cnn
test-numbers: setup
	$(PY) -m pytest -q -ra -n $(TEST_WORKERS) -m numbers tests/test_pretrained.py

# ruff, configured in pyproject.toml (line length 110): lint and formatting, library, tests and notebooks
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Execute every chapter with papermill (in _toc.yml order) into $(REPORT_DIR); only a complete
# run is copied over book/. Training resumes from runs/ when repeated.
report: setup
	$(PY) -m fer_report run --data "$(DATA)" --device $(DEVICE) --out $(REPORT_DIR) --publish \
		$(foreach p,$(PARAMS),-p $(p))

# The book's own environment: only fer_report's `build` extra (no torch: the build never executes
# a notebook). The published site is built by this same target (.github/workflows/book.yml).
BOOK_VENV ?= .venv-book
book-setup: $(BOOK_VENV)/.installed

$(BOOK_VENV)/.installed: fer_report/pyproject.toml
	test -x $(BOOK_VENV)/bin/python || python3 -m venv $(BOOK_VENV)
	python3 -c 'import tomllib; print("\n".join(tomllib.load(open("fer_report/pyproject.toml", "rb"))["project"]["optional-dependencies"]["build"]))' \
		> $(BOOK_VENV)/requirements.txt
	$(BOOK_VENV)/bin/python -m pip install -q --upgrade pip
	$(BOOK_VENV)/bin/python -m pip install -q -r $(BOOK_VENV)/requirements.txt
	touch $@

# Build the HTML from the committed notebooks (never re-executed), from scratch, warnings as errors,
# then check every internal link and anchor of the built pages.
book: book-setup
	rm -rf book/_build
	$(BOOK_VENV)/bin/jupyter-book build book -W -n --keep-going
	$(BOOK_VENV)/bin/python scripts/check_links.py book/_build/html
	@echo "open book/_build/html/index.html"

# External links, checked by Sphinx's linkcheck builder: a report in book/_build/linkcheck/output.txt
book-linkcheck: book-setup
	$(BOOK_VENV)/bin/jupyter-book build book --builder linkcheck

bench: setup
	$(PY) benchmarks/bench_attribution.py
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf _build book/_build $(REPORT_DIR)
