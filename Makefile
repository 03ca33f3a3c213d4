# Two commands: `make demo` runs the whole loop on the embedded default, `make test` runs the tests.
# Each creates .venv from pyproject.toml when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EH := $(BIN)/evalharness
# pytest-xdist workers for `make test`: the tests mostly wait on subprocesses and sockets; 0 runs them in one process
TEST_WORKERS ?= 3

.PHONY: demo test lint bench clean bytecode docs

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[postgres]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# `evalharness demo` runs the loop's six commands with their outputs, in this order (the gate's exit 1 is passed over):
# run -e v2 -b v1; run -e v0; run -e v2-photos; compare v1 v2 --html/--markdown; compare v2 v2-photos; gate -b v2 -c v2-photos
# On two or more cores the three runs run at once, then the three steps that read them; outputs keep this order.
demo: $(VENV)/.installed bytecode
	$(EH) demo

test: $(VENV)/.installed-test bytecode
	$(BIN)/ruff check evalharness tests bench scripts
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet  # the manual: broken links or pages fail
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

# The editable install leaves evalharness' own modules uncompiled; where PYTHONDONTWRITEBYTECODE is set (as on some CI
# images) every command would compile them again. compileall writes what is missing or stale (a few ms when current).
bytecode: $(VENV)/.installed
	$(BIN)/python -m compileall -q evalharness > /dev/null

lint: $(VENV)/.installed-test
	$(BIN)/ruff check evalharness tests bench scripts

# The manual as a site in build/site (the reference pages are regenerated from the code first)
docs: $(VENV)/.installed-test
	$(BIN)/python scripts/reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed-test
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .evalharness build reports/*.html reports/*.md reports/*.xml
	find evalharness -name __pycache__ -type d -prune -exec rm -rf {} +
