# tradewire: two commands do everything on a fresh machine (Debian 12, Python 3.11, Node 20).
#   make run    set up, build the dashboard, serve http://127.0.0.1:8000
#   make test   set up (system packages too, as root), then every test, lint and coverage gate
SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_LINK_MODE := copy

DASHBOARD_STAMP := dashboard/dist/index.html
SDK_SOURCES := $(shell find clients/js/src clients/js/types clients/js/package.json clients/js/package-lock.json clients/js/tsconfig.json -type f 2>/dev/null)
# The dashboard compiles the SDK's TypeScript sources itself (a path alias), so they count too.
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/public dashboard/index.html dashboard/package.json dashboard/package-lock.json dashboard/tsconfig*.json dashboard/vite.config.* -type f 2>/dev/null) $(SDK_SOURCES)
SDK_STAMP := clients/js/dist/index.js

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: python
python: ## Create .venv from the lock file
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen --quiet

dashboard/node_modules/.package-lock.json: dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund

$(DASHBOARD_STAMP): dashboard/node_modules/.package-lock.json $(DASHBOARD_SOURCES)
	cd dashboard && npm run build

.PHONY: dashboard
dashboard: $(DASHBOARD_STAMP) ## Build the dashboard into dashboard/dist

tests/js/node_modules/.package-lock.json: tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund

clients/js/node_modules/.package-lock.json: clients/js/package-lock.json
	cd clients/js && npm ci --no-audit --no-fund

$(SDK_STAMP): clients/js/node_modules/.package-lock.json $(SDK_SOURCES)
	cd clients/js && npm run build

.PHONY: sdk
sdk: $(SDK_STAMP) ## Build the JS SDK (@tradewire/client) into clients/js/dist

.PHONY: contract
contract: python dashboard/node_modules/.package-lock.json ## Regenerate the dashboard's wire types from the pydantic models (commit them)
	uv run python scripts/generate-contract

.PHONY: run
run: python dashboard ## Run the service with the embedded default (SQLite, simulated market)
	uv run tradewire serve

.PHONY: cluster
cluster: python dashboard ## Local cluster on http://127.0.0.1:8080: PostgreSQL, Redis, 3 instances, nginx (CLUSTER_ARGS="--instances 2 --port 9000")
	bash scripts/bootstrap-system db web
	uv run python scripts/cluster $(CLUSTER_ARGS)

.PHONY: bench bench-quick soak
bench: python ## Load scenarios S1-S4 on tradewire and the Node server; rewrites docs/BENCHMARKS.md
	uv run python bench/run.py --write-docs $(BENCH_ARGS)

bench-quick: python ## Small versions of the load scenarios on both servers (~2 min)
	uv run python bench/run.py --quick $(BENCH_ARGS)

soak: python ## S1's load for 10 minutes on tradewire: RSS at start and end of the steady state
	uv run python bench/run.py --soak 10 --servers tradewire --write-docs $(BENCH_ARGS)

.PHONY: system
system: ## Install the system packages tests use (PostgreSQL, Redis, browsers...; needs root)
	bash scripts/bootstrap-system

.PHONY: lint
lint: python clients/js/node_modules/.package-lock.json ## ruff, mypy, the dashboard's type check and linter, the SDK's type check
	uv run ruff check src tests bench examples
	uv run ruff format --check src tests bench examples
	uv run mypy
	cd dashboard && npm run lint
	cd clients/js && npm run typecheck

.PHONY: test
test: system python dashboard tests/js/node_modules/.package-lock.json $(SDK_STAMP) lint ## Every test, with the coverage gate
	cd dashboard && npm test
	cd clients/js && npm test
	uv run pytest --cov --cov-report=term --cov-report=xml $(PYTEST_ARGS)

.PHONY: audit
audit: python dashboard/node_modules/.package-lock.json tests/js/node_modules/.package-lock.json ## Known vulnerabilities in the locked dependencies: pip-audit (uv.lock) and npm audit (dashboard, tests/js)
	uv export --frozen --all-groups --no-emit-project --quiet -o .audit-requirements.txt
	uv run pip-audit --strict --progress-spinner off --disable-pip --require-hashes -r .audit-requirements.txt; \
	  status=$$?; rm -f .audit-requirements.txt; exit $$status
	cd dashboard && npm audit
	cd tests/js && npm audit

.PHONY: clean
clean: ## Remove build output and local data
	rm -rf .venv dashboard/dist dashboard/node_modules tests/js/node_modules clients/js/dist clients/js/node_modules data .coverage* coverage.xml
