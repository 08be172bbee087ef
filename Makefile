# msim: two commands from a fresh clone.
#   make demo   -> venv + dependencies + compiled kernels, then runs the demo deck (DEMO=...)
#   make test   -> same set-up, then the whole default test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-installed
KERNELS_STAMP := multiscale/_kernels/.built
PYX    := $(wildcard kernels/*.pyx kernels/*.pxd)
# msim's kernels take explicit thread counts; a threaded BLAS under the sparse solves and minimisers only
# oversubscribes the cores (3 crack stages: 281 s threaded vs 25 s single-threaded on a loaded 2-core box)
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup build demo test test-slow bench lint clean

setup: $(DEPS)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS): pyproject.toml setup.py | $(PY)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install "Cython>=3" "numpy>=1.24"
	$(PY) -m pip install --no-build-isolation -e ".[test]"
	touch $(KERNELS_STAMP) $@

build: $(KERNELS_STAMP)

# `pip install -e` in $(DEPS) already compiles the kernels in place and touches the stamp, but make decided
# to rebuild the stamp (missing at the start) before that: compile only when a kernel source is newer than
# the stamp (a fresh clone used to compile every kernel twice)
$(KERNELS_STAMP): $(PYX) setup.py | $(DEPS)
	@if [ -e $@ ] && [ -z "$$(find $(PYX) setup.py -newer $@)" ]; then \
	  echo "kernels: built by the editable install"; \
	else \
	  echo "$(PY) setup.py -q build_ext --inplace -j 2"; \
	  $(PY) setup.py -q build_ext --inplace -j 2 && touch $@; \
	fi

DEMO ?= decks/wave1d.yaml

demo: build
	$(VENV)/bin/msim run $(DEMO) -o results/demo.h5 --overwrite
	$(VENV)/bin/msim inspect results/demo.h5
	@echo "results: results/demo.h5 (open results/demo.xdmf in ParaView; 'msim plot results/demo.h5 energy')"

# ParaView's pvpython (the XDMF tests read the results with ParaView's default Xdmf3 reader): installed from
# the distribution when missing (Debian/Ubuntu: paraview + python3-paraview, about 80 MB, ~3 min)
PVPYTHON_STAMP := $(VENV)/.pvpython
$(PVPYTHON_STAMP): | $(DEPS)
	@command -v pvpython >/dev/null 2>&1 || { \
	  echo "installing ParaView (pvpython) for the XDMF reader tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends paraview python3-paraview; }
	@command -v pvpython >/dev/null 2>&1 && touch $@

test: build $(PVPYTHON_STAMP)
	$(PY) -m pytest -q

test-slow: build $(PVPYTHON_STAMP)
	$(PY) -m pytest -q -m slow

bench: build
	$(PY) benchmarks/bench_md.py --repeat 3
	$(PY) benchmarks/bench_fem.py

lint: $(DEPS)
	$(PY) -m ruff check multiscale tests benchmarks

clean:
	rm -rf build $(VENV) multiscale/_kernels/*.so kernels/*.c $(KERNELS_STAMP)
