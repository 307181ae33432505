# slim_plugins developer entry points. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
# Two cores on the reference machine: one intra-op thread per core.
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2

.PHONY: install test test-slow lint demo demo-simclr demo-emp demo-emp-slim demo-gated demo-mvmr demo-mvmr-slim clean

install:
	@VENV=$(VENV) bash tools/install.sh

test: install
	$(PY) -m pytest tests

test-slow: install
	$(PY) -m pytest tests -m slow

lint: install
	$(PY) -m flake8 slim_plugins tools tests benchmarks configs projects
	$(PY) -m isort --check-only --diff slim_plugins tools tests benchmarks

demo: install
	$(PY) tools/run_demo.py us3l

demo-simclr: install
	$(PY) tools/run_demo.py simclr

demo-emp: install
	$(PY) tools/run_demo.py emp

demo-emp-slim: install
	$(PY) tools/run_demo.py emp-slim

demo-gated: install
	$(PY) tools/run_demo.py gated

demo-mvmr: install
	$(PY) tools/run_demo.py mvmr

demo-mvmr-slim: install
	$(PY) tools/run_demo.py mvmr-slim

clean:
	rm -rf work_dirs build *.egg-info
