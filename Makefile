# Records Desk: `make run` and `make test` are all a new machine needs (see README.md).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format check lock clean

run: $(STAMP)
	$(PY) -m scripts.run

test: $(STAMP)
	$(PY) -m scripts.test $(ARGS)

# QUICK=1 runs the 100,000-row version.
bench: $(STAMP)
	$(PY) -m bench $(if $(QUICK),--quick) $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Regenerate the lock files from pyproject.toml (needs network access to PyPI):
# requirements.lock for development and tests, docker/requirements.lock for production.
lock: $(STAMP)
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra embedded --universal \
		--python-version 3.11 --generate-hashes -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --universal \
		--python-version 3.11 --generate-hashes -o docker/requirements.lock

$(STAMP): requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is needed."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $(STAMP)

clean:
	rm -rf $(VENV) .data .pytest_cache
