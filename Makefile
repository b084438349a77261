# Two entry points (README quick start): `make app` and `make test`.
# Both create .venv on first use (torch 2.14.1 + torchvision 0.29.1 pinned; see README for sizes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: venv app demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## The main job: the web app on the embedded default model (http://127.0.0.1:8501; ARGS="--port N").
app: $(STAMP)
	$(BIN)/geoloc app $(ARGS)

## The CLI tour of distances, scores, boundary lookup and geocells.
demo: $(STAMP)
	$(BIN)/geoloc demo

lint: $(STAMP)
	$(BIN)/ruff check .

## The test suite: ruff, then pytest on 2 workers (slow tests skipped; `make test ARGS=--runslow`).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
