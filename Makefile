# clusterstats: two commands reproduce everything on a fresh machine with Python 3.11+.
#   make reproduce   # every figure, table, result and report, from the data the repo ships
#   make test        # the test suite
# Both create .venv/ on first use, install the package (pinned by constraints.txt) and a Jupyter
# kernel named "clusterstats" inside it. PYTHON picks the interpreter that builds the venv.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.clusterstats-installed
KERNEL := clusterstats
# notebooks at a time in `make reproduce` (the cores this machine has)
JOBS   ?= $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)

.PHONY: reproduce test install kernel clean-outputs help site
.DEFAULT_GOAL := help

help:
	@echo "make reproduce  - rebuild figures/, results/, reports/ (runs the notebooks with papermill)"
	@echo "make test       - run the test suite"
	@echo "make install    - only create $(VENV) and install clusterstats + kernel '$(KERNEL)'"
	@echo "make site       - write site/ (verdicts, figures with citations, notebooks as HTML) from the last run"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("clusterstats needs Python >= 3.11, this is " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (clusterstats)" >/dev/null
	-test -d .git && $(BIN)/nbstripout --install >/dev/null 2>&1
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/clusterstats run --jobs $(JOBS)

test: $(STAMP)
	$(BIN)/python -m pytest

site: $(STAMP)
	$(BIN)/clusterstats site --output site

clean-outputs:
	rm -rf figures/* results/* reports/* build/notebooks
