# warroom: every target sets up .venv itself. Python 3.11+.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

$(VENV)/.sandbox: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[sandbox]"
	touch $@

demo: $(VENV)/.sandbox
	$(BIN)/warroom demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/cfn-lint deploy/*.yaml
	$(BIN)/warroom scenarios lint

test: lint
	$(BIN)/pytest -q -n 2 --dist worksteal

bench: $(VENV)/.dev
	$(BIN)/python -m bench

run: $(VENV)/.sandbox
	$(BIN)/warroom run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
