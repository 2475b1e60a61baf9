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
# JupyterLab settings shipped with the venv: widget state saved with each notebook (a
# reopened notebook draws its widgets instead of "model not found"), no news or update checks.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/svlab.json
# Kernels listen on local sockets, not TCP (nothing to warn about, nothing on the network).
LAB_FLAGS := --KernelManager.transport=ipc --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	--LabApp.extension_manager=readonly

.PHONY: install demo test lab reports clean chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	mkdir -p $(dir $(LAB_OVERRIDES))
	printf '%s\n' '{"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": true},' \
		' "@jupyterlab/apputils-extension:notification": {"fetchNews": "false",' \
		'  "checkForUpdates": false}}' > $(LAB_OVERRIDES)
	touch $(STAMP)

# The browser tests drive Debian's Chromium (no browser download). As root with apt-get it is
# installed here (about a minute); elsewhere, without it, those tests are skipped and say so.
chromium:
	@if [ -n "$$SVLAB_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium for the browser tests (apt-get install chromium)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
			>/dev/null) \
		|| echo "could not install Chromium: the browser tests will be skipped"; \
	else echo "no Chromium (apt-get install chromium as root): the browser tests will be skipped"; fi

demo: $(STAMP)
	$(BIN)/svlab report notebooks/01_generate.ipynb --out reports/demo

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks $(LAB_FLAGS)

reports: $(STAMP)
	$(BIN)/svlab report notebooks/*.ipynb --out reports

clean:
	rm -rf reports build *.egg-info .pytest_cache
