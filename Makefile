# One command sets up and runs the demo (`make demo`), one runs the tests (`make test`).
UV_VERSION = 0.9.0
VENV = .venv
STAMP = $(VENV)/.installed

# Python 3.10 (TFX 1.16 supports no newer one): `python3.10` on the PATH (pyenv's shim selects 3.10.13 through
# .python-version), else a 3.10 that pyenv (in $PYENV_ROOT or ~/.pyenv) or uv has installed. `make PYTHON=/path/to/python3.10 ...` chooses one.
PYTHON ?= $(shell for p in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 \
  $$(uv python find 3.10 2>/dev/null); do "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' \
  >/dev/null 2>&1 && { command -v "$$p" || echo "$$p"; } && break; done)

.PHONY: setup demo test test-fast benchmark lock clean check-python

check-python:
	@if [ -z "$(PYTHON)" ] || ! "$(PYTHON)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; \
	then echo "modelfab needs Python 3.10$(if $(PYTHON), ($(PYTHON) is not 3.10),; none was found): install it with \
	'pyenv install 3.10.13' or 'uv python install 3.10', or name one with make PYTHON=/path/to/python3.10" >&2; \
	exit 1; fi

setup: $(STAMP)

# uv resolves nothing here: it installs exactly requirements.lock (made by `make lock`), bytecode compiled,
# then this project in editable mode. pip stays in the venv (TFX and the tfx CLI call it).
$(STAMP): requirements.lock pyproject.toml | check-python
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(PYTHON) -m uv venv --quiet --seed --python $(PYTHON) $(VENV)
	$(PYTHON) -m uv pip sync --quiet --python $(VENV)/bin/python --compile-bytecode requirements.lock
	$(PYTHON) -m uv pip install --quiet --python $(VENV)/bin/python --no-deps --compile-bytecode \
	  --config-settings editable_mode=compat -e .
	touch $(STAMP)

demo: setup
	$(VENV)/bin/modelfab run --output modelfab-output

test: setup
	$(VENV)/bin/python -m pytest

# Unit tests only: the end-to-end pipeline runs (marked e2e) are left out. One pytest-xdist worker per core; each
# test module stays on one worker, so its module fixtures (a pruned model, a quantized one) are built once.
test-fast: setup
	$(VENV)/bin/python -m pytest -m "not e2e" -n auto --dist loadscope

benchmark: setup
	$(VENV)/bin/python benchmarks/benchmark.py --runs 3 --write-results

lock: check-python
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --python-version 3.10 -o requirements.lock

clean:
	rm -rf $(VENV) modelfab-output
