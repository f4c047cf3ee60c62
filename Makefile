# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test lint typecheck pytest docs docs-serve clean lock

# Dependencies come from the lock files, every file checked against its SHA-256; the project
# itself is installed on top without resolving anything again. `make run` needs only what the
# processes run on (requirements.lock); everything else (tests, linters, docs) adds the dev
# extra (requirements-dev.lock, a superset).
define install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(1)
	$(BIN)/python -m pip install --quiet --no-deps -e .
endef

$(RUN_STAMP): pyproject.toml requirements.lock
	$(call install,requirements.lock)
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml requirements-dev.lock
	$(call install,requirements-dev.lock)
	@touch $(STAMP) $(RUN_STAMP)

# After changing a dependency in pyproject.toml: `make lock` regenerates both lock files
# (requirements.lock for the image, requirements-dev.lock with the dev extra for make), then
# commit them with the change. One resolution for Python 3.11 on every platform.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5,<1'
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev -o requirements-dev.lock

# make run PORT=8080 HOST=0.0.0.0 DATA_DIR=/srv/orders (each optional; ORDERS_* work too)
run: $(RUN_STAMP)
	$(BIN)/orders up $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST)) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The Elasticsearch node is fetched (Maven), started and stopped by the test session itself
# (tests/engines.py); set ELASTICSEARCH_URL to use a node you already run.
# The suite runs on PYTEST_WORKERS processes (pytest-xdist; 0 runs it in this one).
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m pytest $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS)) $(PYTEST_ARGS)

# The docs site (mkdocs.yml): --strict, so a broken link or a page left out of the nav fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The docs site on http://127.0.0.1:8001 (beside `make run` on 8000).
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve -a 127.0.0.1:8001

test: lint typecheck docs pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
