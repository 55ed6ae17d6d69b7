# The two commands: `make dev` runs the app on this machine, `make test` runs the tests.
# Each bootstraps what it needs: a virtualenv in .venv with the project and its dependencies.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# SAM CLI lives in a virtualenv of its own: its pins (Flask, boto3, ...) are not the project's.
SAM_CLI_VERSION := 1.170.0
SAM    := .codeloop/tools/sam-$(SAM_CLI_VERSION)/bin/sam

.PHONY: dev test lint lint-code lint-template sam-cli bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "codeloop needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Reads .env when it exists (`codeloop app create` writes it); the environment wins over it.
dev: $(STAMP)
	$(BIN)/codeloop dev --env-file .env

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: lint-code lint-template

lint-code: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/cfn-lint template.yaml

lint-template: $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template template.yaml

sam-cli: $(SAM)

$(SAM):
	$(PYTHON) -m venv $(dir $(SAM))..
	$(dir $(SAM))python -m pip install --quiet --disable-pip-version-check 'aws-sam-cli==$(SAM_CLI_VERSION)'

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .codeloop .pytest_cache .ruff_cache .aws-sam
