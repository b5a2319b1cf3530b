# Two commands set everything up on a fresh Linux machine with Python 3.11+:
#   make run    install into .venv, migrate, seed the demo, serve the site and the worker
#   make test   install (with the dev extra) and run the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast bench lint typecheck install install-dev chromium shell-tools clean

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,ml]'
	touch $@

# The trainers whose data loaders the tests run on the exports (tests/consumers.py): their
# files only, without dependencies (they pin versions that cannot sit beside ours).
CONSUMERS := llamafactory==0.9.5 openrlhf==0.11.2
$(VENV)/.installed-consumers: Makefile
	rm -rf $(VENV)/consumers
	$(PY) -m pip install --quiet --no-deps --target $(VENV)/consumers \
	  --python-version 3.11 --implementation cp --platform manylinux1_x86_64 \
	  --only-binary=:all: $(CONSUMERS)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev $(VENV)/.installed-consumers

# The demo runs with DEBUG on (a development key, static files from the app folders).
# The worker (django-q2, ORM broker) runs beside the web server and stops with it: both
# run in the background of the recipe's shell, which waits for the site. A shell only
# handles a signal once the command it waits on returns, and `wait` returns at once, so
# Ctrl-C, or SIGINT or SIGTERM sent to make (which passes it on to the recipe), stops both.
run: export DEBUG ?= true
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --url http://$(HOST):$(PORT)/
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C stops the site and the worker)"
	@$(PY) manage.py qcluster & WORKER=$$!; \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT) & SITE=$$!; \
	stop() { kill $$SITE 2>/dev/null; \
	  if [ "$$1" = int ]; then n=0; while kill -0 $$WORKER 2>/dev/null && [ $$n -lt 40 ]; do sleep 0.5; n=$$((n+1)); done; fi; \
	  kill $$WORKER 2>/dev/null; wait $$SITE $$WORKER 2>/dev/null; }; \
	trap 'stop int; exit 0' INT; trap 'stop; exit 0' TERM; trap stop EXIT; \
	$(SIGINT_TO_MAKE) \
	wait $$SITE

# On Ctrl-C the worker has the terminal's SIGINT already: it is given up to 20 s to stop
# on that before a SIGTERM (two signals at once left django-q2's cluster stopping for
# over 30 s under load).
# GNU make passes SIGTERM on to its recipe but not SIGINT, which it expects the terminal
# to have sent the whole group: it waits for its children. It does stop catching SIGINT
# as it starts to wait, and Linux shows that in /proc: this watcher stops the site (and
# the recipe then the worker) when make's SigCgt loses SIGINT, so `kill -INT <make>`
# stops everything too. Only a change counts: a make started with SIGINT ignored never
# caught it.
SIGINT_TO_MAKE = MAKE_PID=$$PPID; caught() { m=$$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$$MAKE_PID/status 2>/dev/null); \
	  [ -n "$$m" ] && [ $$(( 0x$${m\#$${m%?}} & 2 )) -ne 0 ]; }; \
	if caught; then ( while kill -0 $$SITE 2>/dev/null; do \
	  caught || { kill $$SITE 2>/dev/null; break; }; sleep 0.5; done ) & fi;

# The browser tests drive Debian's chromium (never a downloaded browser).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; \
	  fi; }

# The README's curl examples are run by the suite (tests/test_readme.py): curl and jq.
shell-tools:
	@command -v curl >/dev/null && command -v jq >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq curl jq >/dev/null; \
	  else \
	    echo "The README's examples need curl and jq: sudo apt-get install -y curl jq"; exit 1; \
	  fi; }

test: install-dev chromium shell-tools
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# The inner loop: everything but the browser, fuzz, trainer and model tests, without the
# plugins only those use (tests/conftest.py skips importing the modules that are slow whole).
FAST := -m "not slow" -p no:schemathesis -p no:hypothesispytest -p no:anyio
test-fast: install-dev
	$(PY) -m pytest -n 2 $(FAST) $(PYTEST_ARGS)

# Both need the PostgreSQL of design §8 for their goals; the import benchmark
# runs on whatever DATABASE_URL names, the annotation one on a database of its own.
bench: install-dev
	$(PY) bench/import_prompts.py $(BENCH_ARGS)
	$(PY) bench/annotate.py
	$(PY) bench/agreement.py
	$(PY) bench/export.py
	$(PY) bench/render.py
	$(PY) bench/score.py
	$(PY) bench/faults.py
	$(PY) bench/overlap.py

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: install-dev
	DEBUG=true $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info staticfiles
