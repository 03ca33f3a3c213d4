# Two commands: `make demo` runs the whole loop on the embedded default, `make test` runs the tests.
# Each creates .venv from pyproject.toml when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EH := $(BIN)/evalharness
# pytest-xdist workers for `make test`: the tests mostly wait on subprocesses and sockets; 0 runs them in one process
TEST_WORKERS ?= 3

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(EH) run --engine-config v2 --baseline v1
	$(EH) run --engine-config v0
	$(EH) compare v1 v2 --html reports/compare-v1-v2.html --markdown reports/compare-v1-v2.md
	$(EH) run --engine-config v2-photos
	$(EH) compare v2 v2-photos --html reports/compare-v2-v2-photos.html --markdown reports/compare-v2-v2-photos.md
	-$(EH) gate --baseline v2 --candidate v2-photos --markdown reports/gate-v2-photos.md --junit reports/gate-v2-photos.xml

test: $(VENV)/.installed-test
	$(BIN)/ruff check evalharness tests bench
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

lint: $(VENV)/.installed-test
	$(BIN)/ruff check evalharness tests bench

bench: $(VENV)/.installed-test
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .evalharness reports/*.html reports/*.md reports/*.xml
