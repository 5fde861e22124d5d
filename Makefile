# samsyn: the only commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA ?= $(or $(SAMSYN_SAMPLE_DATA),../shared/data)
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench lint install assets clean

$(BIN)/samsyn: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/samsyn

install: $(BIN)/samsyn assets

static/node_modules/.package-lock.json: static/package.json static/package-lock.json
	cd static && npm ci --no-audit --no-fund --loglevel=error

assets: static/node_modules/.package-lock.json
	cd static && npm run --silent build

run: install
	$(BIN)/samsyn init-db
	$(BIN)/samsyn demo --shared-data "$(SHARED_DATA)"
	@$(BIN)/samsyn serve --host $(HOST) --port $(PORT) & server=$$!; \
	trap 'kill $$server 2>/dev/null' INT TERM; \
	$(BIN)/python -m app.ready http://$(HOST):$(PORT)/readyz && \
	echo "samsyn on http://$(HOST):$(PORT)"; \
	wait $$server

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=30; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

bench: install
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check app tiles annotations samsyn tests benchmarks
	$(BIN)/mypy app tiles annotations samsyn

clean:
	rm -rf $(VENV) static/node_modules static/dist
