# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv at the repository root and installs what it needs; the install is
# remembered by a stamp file, so a second run starts at once.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch that pip finds on this machine; a GPU machine overrides it,
# e.g. `make TORCH=torch test`. Never let pip resolve a multi-GB CUDA build here.
TORCH ?= torch==2.13.0
PYTEST_FLAGS ?= -q

.PHONY: install demo test lab reports clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/svlab report notebooks/01_generate.ipynb --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

reports: $(STAMP)
	$(BIN)/svlab report notebooks/*.ipynb --out reports

clean:
	rm -rf reports build *.egg-info .pytest_cache
