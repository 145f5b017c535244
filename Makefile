# The commands the README names. Each one installs what it needs into .venv first.
# The first of these found makes .venv; scripts/install.py refuses one older than 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
PYTHON := $(or $(PYTHON),python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SITE   := _build/html
PORT   ?= 8000
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install lab book serve test test-fast lint format catalogs release grade clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# scripts/install.py checks the Python version, then installs torch (on Linux the CPU build)
# and the rest; README's "Without make" runs the same script.
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) scripts/install.py
	touch $@

install: $(STAMP)  ## create .venv and install the pinned stack

lab: $(STAMP)  ## open the exercise notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

book: $(STAMP)  ## execute every chapter and build the site, English and Korean (ko/), into _build/html (strict)
	$(BIN)/jupyter-book build -W -n --keep-going .
	$(BIN)/python scripts/book_ko.py html
	@echo "Site built: open $(CURDIR)/$(SITE)/index.html (or run: make serve)"

serve: book  ## build, then serve the site on http://localhost:8000 (PORT=... to change)
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory $(SITE)

test: book browser postgres redis  ## install, build the book strictly, run every test (browser, PostgreSQL, Redis too)
	$(BIN)/python -m pytest -n $(JOBS)

.PHONY: browser test-browser
browser:  ## install Debian's chromium (apt) and axe-core (npm ci) for the browser tests
	bash scripts/install-browser.sh

.PHONY: postgres redis
postgres:  ## install Debian's PostgreSQL server (apt) for the gradebook tests
	bash scripts/install-postgres.sh

redis:  ## install Debian's Redis server (apt) for the broker and worker tests
	bash scripts/install-redis.sh

test-browser: book browser  ## test the built site in headless Chromium (screenshots: _build/screenshots)
	$(BIN)/python -m pytest -m browser tests/browser

test-fast: $(STAMP)  ## the tests that need no built site and no nbgrader run
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: $(STAMP)  ## ruff: lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## ruff: fix and format
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

catalogs: $(STAMP)  ## update the Korean catalogs (locales/ko) after English text changed
	$(BIN)/python scripts/book_ko.py catalogs
	$(BIN)/python scripts/book_ko.py check

release: $(STAMP)  ## regenerate the student notebooks in notebooks/ from solutions/
	$(BIN)/python -m autograder.release

clean:  ## remove the built site and nbgrader's local gradebook
	rm -rf _build gradebook.db

GRADING := _build/grading

grade: $(STAMP)  ## grade the generated demo class into _build/grading (see docs/grading.md)
	$(BIN)/python -m autograder demo $(GRADING)/submitted
	$(BIN)/python -m autograder grade $(GRADING)/submitted --out $(GRADING) --cell-timeout 10 --budget 60
