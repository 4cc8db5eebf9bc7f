# The two commands of the README. Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A FastAPI release without built-in telemetry, for the compatibility test.
COMPAT := .venv-compat
COMPAT_STAMP := $(COMPAT)/.installed
# Celery on the Redis broker: kombu's Redis transport needs redis-py >= 6.1, which arq (in the
# dev extra) does not accept, so these tests get an environment without arq.
CELERY := .venv-celery
CELERY_STAMP := $(CELERY)/.installed
# What `pip install 'saler-tracing[all]'` gives a user, nothing else: Celery on the Redis broker
# and arq must both work in it (tests/jobs/test_all_extra.py).
ALL := .venv-all
ALL_STAMP := $(ALL)/.installed

.PHONY: demo test lint bench clean monitoring deploy-check dashboards

$(STAMP): pyproject.toml setup.py src/saler_tracing/_internal/export/_speedups.c src/saler_tracing/_internal/scrub/_quick.c src/saler_tracing/_internal/sampling/_child.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(COMPAT_STAMP): pyproject.toml setup.py src/saler_tracing/_internal/export/_speedups.c src/saler_tracing/_internal/scrub/_quick.c src/saler_tracing/_internal/sampling/_child.c
	test -x $(COMPAT)/bin/python || $(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT)/bin/python -m pip install --quiet -e . 'fastapi==0.140.0' uvicorn httpx
	touch $(COMPAT_STAMP)

$(CELERY_STAMP): pyproject.toml setup.py src/saler_tracing/_internal/export/_speedups.c src/saler_tracing/_internal/scrub/_quick.c src/saler_tracing/_internal/sampling/_child.c
	test -x $(CELERY)/bin/python || $(PYTHON) -m venv $(CELERY)
	$(CELERY)/bin/python -m pip install --quiet --upgrade pip
	$(CELERY)/bin/python -m pip install --quiet -e '.[celery,fastapi]' 'redis>=6.1' \
		'psycopg[binary]>=3.2' 'uvicorn>=0.30' 'httpx>=0.27' \
		'pytest>=8' 'pytest-timeout>=2.3' 'pytest-asyncio>=0.24'
	touch $(CELERY_STAMP)

$(ALL_STAMP): pyproject.toml setup.py src/saler_tracing/_internal/export/_speedups.c src/saler_tracing/_internal/scrub/_quick.c src/saler_tracing/_internal/sampling/_child.c
	rm -rf $(ALL)
	$(PYTHON) -m venv $(ALL)
	$(ALL)/bin/python -m pip install --quiet --upgrade pip
	$(ALL)/bin/python -m pip install --quiet -e '.[all]'
	touch $(ALL_STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.shop.demo

test: $(STAMP) $(COMPAT_STAMP) $(CELERY_STAMP) $(ALL_STAMP)
	bash scripts/test.sh

# Prometheus and Alertmanager (Debian's) on deploy/'s files, beside saler-trace serve and the
# demo shop; docs/operations.md. PROMETHEUS_PORT / ALERTMANAGER_PORT move them off 9090 / 9093.
monitoring: $(STAMP)
	bash scripts/monitoring_tools.sh
	$(BIN)/python -m examples.shop.stack

# promtool and amtool checks, rule and routing tests, dashboards up to date.
deploy-check: $(STAMP)
	bash scripts/deploy_check.sh

# Regenerate deploy/grafana/dashboards/*.json after changing deploy/grafana/*.py.
dashboards: $(STAMP)
	$(BIN)/python deploy/grafana/generate.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts deploy
	$(BIN)/ruff format --check src tests benchmarks examples scripts deploy
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd deploy/grafana && ../../$(BIN)/mypy --strict --python-version 3.11 generate.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks.bench_http

clean:
	rm -rf $(VENV) $(COMPAT) $(CELERY) $(ALL)
