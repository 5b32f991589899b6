# make run: serve the demo on a private PostGIS with sample data.
# make test: the whole test suite against a throwaway PostGIS.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINEMAP := $(BIN)/minemap
HOME_DIR := .minemap

WEB := src/minemap/web

.PHONY: run test setup system venv web db clean

run: setup
	@if [ -z "$$MINEMAP_DATABASE_URL" ]; then $(MINEMAP) db start; fi
	@$(MINEMAP) db upgrade
	@$(MINEMAP) load-sample --if-empty
	@mkdir -p $(HOME_DIR)
	@if [ ! -s $(HOME_DIR)/admin-token ]; then \
	  (umask 077; $(MINEMAP) token create --org ANAMA --role admin --name demo-admin \
	    > $(HOME_DIR)/admin-token.new 2>/dev/null) && mv $(HOME_DIR)/admin-token.new $(HOME_DIR)/admin-token; fi
	@echo "admin token: $$(cat $(HOME_DIR)/admin-token)"
	@echo "minemap: http://$${MINEMAP_HOST:-127.0.0.1}:$${MINEMAP_PORT:-8000}/  (Ctrl-C to stop)"
	@$(MINEMAP) serve

test: setup
	$(BIN)/pytest -q

setup: system venv web

system:
	@bash scripts/install-system-packages.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[test]'
	@touch $@

# The browser libraries the web app serves itself, exactly as the lockfile pins them.
web: $(WEB)/node_modules/.package-lock.json

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	@cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

clean:
	-$(MINEMAP) db stop
	rm -rf $(VENV) $(HOME_DIR)
