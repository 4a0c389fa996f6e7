# One command sets up and runs the demo (`make demo`), one runs the tests (`make test`).
PYTHON ?= python3.10
UV_VERSION = 0.9.0
VENV = .venv
STAMP = $(VENV)/.installed

.PHONY: setup demo test benchmark clean

setup: $(STAMP)

# uv resolves nothing here: it installs exactly requirements.lock (made by `make lock`), bytecode compiled,
# then this project in editable mode. pip stays in the venv (TFX and the tfx CLI call it).
$(STAMP): requirements.lock pyproject.toml
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

benchmark: setup
	$(VENV)/bin/python benchmarks/benchmark.py

lock:
	$(PYTHON) -m uv pip compile pyproject.toml --extra dev --python-version 3.10 -o requirements.lock

clean:
	rm -rf $(VENV) modelfab-output
