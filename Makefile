# nn-recipe: every target sets itself up (venv, install, data) so a fresh clone just works.
#   make test    unit tests, every notebook and every exercise solution executed at toy
#                size (the smoke run), the course site built from that run and checked in
#                a real browser (tests/browser): about 30 minutes on 2 cores (AVX2)
#   make course  every notebook in order in the quick profile, claims asserted (runs/):
#                25-48 minutes on 2 cores, so CI leaves it to the seed benchmark
#   make smoke   the full profile's code at toy size on any machine (runs/smoke/)
#   make book    the course site from `make course`'s executed notebooks (build/book/)
#   make lab     JupyterLab on notebooks/ (extra flags: make lab LAB_ARGS="--port 8889 --no-browser")

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# relative paths are resolved here, because notebooks run from notebooks/
export RECIPE_CIFAR10_OFFLINE := $(if $(RECIPE_CIFAR10_OFFLINE),$(abspath $(RECIPE_CIFAR10_OFFLINE)),)

.PHONY: test course smoke book lab data lint benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

data: $(STAMP)
	$(PY) datasets/fetch.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) data lint
	RECIPE_PROFILE=quick $(PY) -m pytest tests --ignore=tests/browser
	$(PY) -m recipe_utils.course.runner --smoke --out runs/test
	$(PY) docs/build_book.py --runs runs/test --out build/book
	$(PY) -m pytest tests/browser

course: $(STAMP) data
	$(PY) -m recipe_utils.course.runner $(if $(RECIPE_PROFILE),--profile $(RECIPE_PROFILE),)

smoke: $(STAMP) data
	$(PY) -m recipe_utils.course.runner --smoke

book: $(STAMP)
	$(PY) docs/build_book.py

# Jupyter refuses to start as root (containers, Codespaces) without --allow-root
LAB_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP) data
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks

benchmark: $(STAMP) data
	$(PY) benchmarks/loader_speed.py
	$(PY) benchmarks/duplicates_speed.py
	$(PY) benchmarks/preflight_speed.py
	$(PY) benchmarks/full_profile_budget.py

clean:
	rm -rf runs .pytest_cache
