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
# `make test` is what CI runs, in under 15 minutes on 2 cores: the tests marked `slow` (each
# notebook through every front, Ray clusters, live servers, property runs) are left to
# `make test-all`, which runs everything.
PYTEST_FLAGS ?= -q -m "not slow"
# JupyterLab settings shipped with the venv: widget state saved with each notebook (a
# reopened notebook draws its widgets instead of "model not found"), no news or update checks.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/svlab.json
# Kernels listen on local sockets, not TCP (nothing to warn about, nothing on the network).
LAB_FLAGS := --KernelManager.transport=ipc --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	--LabApp.extension_manager=readonly

.PHONY: install demo test test-all lab reports clean system-packages

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

# From Debian, for the tests: Chromium for the browser tests (no browser download), and real
# footage for the interpolation tests (OpenCV's sample videos, GNOME's screencasts). As root with
# apt-get the missing ones are installed here (about a minute); elsewhere the tests that need
# them are skipped and say so.
DEBIAN_PACKAGES := chromium opencv-doc gnome-user-docs

system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing for the tests: $$missing (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
			>/dev/null) \
		|| echo "could not install $$missing: the tests that need them will be skipped"; \
	else echo "missing $$missing (apt-get install as root): the tests that need them will be skipped"; fi

demo: $(STAMP)
	$(BIN)/svlab report notebooks/01_generate.ipynb --out reports/demo

test: $(STAMP) system-packages
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

test-all: $(STAMP) system-packages
	$(BIN)/python -m pytest -q

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks $(LAB_FLAGS)

reports: $(STAMP)
	$(BIN)/svlab report notebooks/*.ipynb --out reports

clean:
	rm -rf reports build *.egg-info .pytest_cache
