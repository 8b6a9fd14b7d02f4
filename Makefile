# kewp: one entry point for set-up, running, testing and deploying.
# `make deploy` and `make test` work on a fresh Debian 12 machine (root): they install what they need.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
DEV_DB ?= data/local/ke_wp_mapping.db
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Debian packages the targets need, installed only when missing.
APT_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

.PHONY: help venv browser oidc-provider restic run seed test lint unit deploy-test deploy-test-more e2e deploy vps-up vps-down bench bench-quick clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@python3 -c 'import ensurepip' 2>/dev/null || { $(APT_INSTALL) python3-venv >/dev/null; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first: anything that pulls torch in later must not fetch a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create .venv with the app, test and deploy tools

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null || { $(APT_INSTALL) chromium >/dev/null; }

# The real OpenID Provider the sign-in tests start (tests/oidc_provider: node and its pinned packages).
# Installed again whenever the lock file changes (the stamp is older than it).
OIDC_PROVIDER_STAMP := tests/oidc_provider/node_modules/.kewp-installed
oidc-provider: $(OIDC_PROVIDER_STAMP)
$(OIDC_PROVIDER_STAMP): tests/oidc_provider/package-lock.json
	@command -v npm >/dev/null || { $(APT_INSTALL) nodejs npm >/dev/null; }
	npm ci --prefix tests/oidc_provider --no-audit --no-fund --silent
	touch $@

seed: venv ## import the sample catalogue into the development database
	KEWP_ENV=development KEWP_DATABASE=$(DEV_DB) scripts/seed-dev-db

run: seed ## serve the app on http://127.0.0.1:8000 with the sample data (gunicorn, 2 workers)
	KEWP_ENV=development KEWP_DATABASE=$(DEV_DB) KEWP_BIND=127.0.0.1:8000 KEWP_SECURE_COOKIES=false \
		$(VENV)/bin/gunicorn -c gunicorn.conf.py 'app:create_app()'

lint: venv ## ruff, yamllint, ansible-lint, systemd-analyze verify
	scripts/lint

# Debian's restic for the off-site backup tests (the kewp_backup role installs the same package on the VPS).
restic:
	@command -v restic >/dev/null || { $(APT_INSTALL) restic >/dev/null; }

unit: venv browser oidc-provider restic ## app tests (real SQLite in WAL mode, real model)
	$(PYTEST) tests/unit -q

deploy: venv ## local throw-away VPS: boot it, converge site.yml, print the URL and admin sign-in
	scripts/local-vps up
	$(VENV)/bin/ansible-playbook playbooks/site.yml
	@addr=$$(scripts/local-vps address); \
	 echo; echo "kewp is serving at https://$$addr/ (self-signed certificate)"; \
	 echo "  admin: user 'admin', password '$$(cat .cache/local-secrets/kewp_admin_password)'"; \
	 echo "  on the VPS: scripts/local-vps ssh -- kewpctl status"

vps-up: ## boot the local throw-away VPS (Debian 12 in systemd-nspawn; needs root)
	scripts/local-vps up

vps-down: ## power off and remove the local VPS
	scripts/local-vps down

deploy-test: venv browser ## fresh local VPS, site.yml twice (changed=0), testinfra, then the browser test (needs root)
	$(PYTEST) tests/deploy tests/e2e -q

deploy-test-more: venv browser ## the deploy tests plus the suites make test leaves out (off-site, ACME failure, SSH port, the production walkthrough)
	KEWP_MORE_DEPLOY_TESTS=1 $(PYTEST) tests/deploy -q

e2e: venv browser ## the browser test alone, against the local VPS (converged here when it is not up)
	$(PYTEST) tests/e2e -q

test: lint unit deploy-test ## what CI runs: lint, app tests, deploy and browser tests on a fresh local VPS

bench: venv ## run every benchmark (bench/README.md); prints tables, writes bench/results/
	$(PY) -m bench

bench-quick: venv ## the benchmarks with fewer sizes and requests (a few minutes)
	$(PY) -m bench --quick

clean: ## remove build output and the development database
	rm -rf build data/local
