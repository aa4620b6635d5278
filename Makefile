# The README's two set-up commands: `make demo` and `make test`. Both need only python3 and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit test-integration reliability test-min e2e e2e-min e2e-celery bench lint dist format clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,openlineage]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

test-unit: $(STAMP)
	$(PY) -m pytest -q -m "not integration"

test-integration: $(STAMP)
	$(PY) -m pytest -q -m integration

# Faults, bad input, secrets and load end to end (part of `make test` too); prints the fault matrix and load figures.
reliability: $(STAMP)
	$(PY) -m pytest -q -m reliability tests/reliability

# The oldest Airflow the package claims (pyproject), in its own venv, pinned by constraints/airflow-min.txt,
# without the optional [openlineage] extra: the provider must work unchanged when it is absent.
MIN_VENV ?= .venv-min
MIN_CONSTRAINTS := constraints/airflow-min.txt
MIN_STAMP := $(MIN_VENV)/.installed

$(MIN_STAMP): pyproject.toml $(MIN_CONSTRAINTS)
	@test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet -c $(MIN_CONSTRAINTS) -e '.[test]'
	@touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	@$(MIN_VENV)/bin/python -c 'import airflow; print("Airflow", airflow.__version__)'
	$(MIN_VENV)/bin/python -m pytest -q -m "not integration" tests/unit

# A real deployment (api-server, scheduler, dag-processor, triggerer; PostgreSQL at 127.0.0.1:5432) runs the
# example DAG: about a minute, so not part of `make test`.
e2e: $(STAMP)
	$(PY) -m pytest -q -s tests/e2e/test_real_deployment.py

e2e-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/python -m pytest -q -s tests/e2e/test_real_deployment.py

# A distributed deployment: CeleryExecutor, two workers and two triggerers, Redis as broker and as the Lingxing budget
# and token store (127.0.0.1:6379, databases 13 and 14), PostgreSQL as metadata DB and result backend: a few minutes.
e2e-celery: $(STAMP)
	$(PY) -m pytest -q -s tests/e2e/test_celery_deployment.py

bench: $(STAMP)
	$(PY) -m benchmarks

# ruff, then mypy on the package at its default strictness ([tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy airflow_provider_lingxing

# The sdist and wheel a release uploads, in dist/, checked as PyPI would render them.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --no-isolation --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(MIN_VENV) .demo .pytest_cache build dist *.egg-info
