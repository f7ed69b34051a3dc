# nnabla-nas: the two commands a user runs are `make run` and `make test`.
# Both build the virtual environment .venv first, with a CPython 3.8-3.10 interpreter
# (nnabla has no wheels for newer versions), and rebuild it when the requirements change.

SHELL := /bin/bash
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
# Override to choose the interpreter the venv is built from: make PYTHON=/path/to/python3.10
PYTHON ?=
export PYTHON

.PHONY: run test docs venv clean

# The main job: DARTS search on the bundled digits, then retraining of what it found.
# Results in output/quickstart/ (summary.json, arch.json, weights.h5, TensorBoard events);
# rerunning resumes from the last checkpoint.
run: $(STAMP)
	$(VPY) main.py --config examples/quickstart.yaml

# On every core; tests sharing a module's fixtures (e.g. a reference run) stay together.
test: $(STAMP)
	$(VPY) -m pytest -n auto --dist loadfile

docs: $(DOCS_STAMP)
	$(VPY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs built in docs/_build/html/index.html"

venv: $(STAMP)

# The venv is (re)created when it is missing or its interpreter no longer works, and the
# requirements are (re)installed whenever requirements.txt or the package metadata change.
$(STAMP): requirements.txt pyproject.toml tools/find_python.sh Makefile
	@if ! $(VPY) -c 'import sys; sys.exit(not (3, 8) <= sys.version_info[:2] <= (3, 10))' 2>/dev/null; then \
		base=$$(bash tools/find_python.sh) || exit 1; \
		echo "creating $(VENV) with $$base"; \
		rm -rf $(VENV) && "$$base" -m venv $(VENV) || exit 1; \
	fi
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements.txt
	@# NNabla's ONNX converter must match nnabla's version exactly; --no-deps because
	@# its declared requirements pull TensorFlow for converters we do not use.
	$(VPY) -m pip install --quiet --no-deps "nnabla-converter==$$($(VPY) -c 'import nnabla; print(nnabla.__version__)' 2>/dev/null)"
	@# The package itself, editable, with its `mpi` extra (mpi4py and Open MPI's
	@# `mpirun`), so the data-parallel tests run under a real `mpirun -n 2`, and its
	@# `nasbench` extra (nats_bench), so benchmark tables are read as users read them, and
	@# its `ray` extra, so the black-box executor tests run on a real local Ray.
	$(VPY) -m pip install --quiet -e ".[mpi,nasbench,ray]"
	@touch $(STAMP)

$(DOCS_STAMP): docs/requirements.txt $(STAMP)
	$(VPY) -m pip install --quiet -r docs/requirements.txt
	@touch $(DOCS_STAMP)

clean:
	rm -rf $(VENV) docs/_build .pytest_cache build *.egg-info
