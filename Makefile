# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXAMPLE_ROOT := bench/example_workspace
EXAMPLE := $(EXAMPLE_ROOT)/inventory.py:24:20

.PHONY: run test test-vscode lint fuzz soak bench bench-local bench-context bench-postprocess \
	bench-ngram bench-next-edit clean

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "infill needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml | $(PY)
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed

# Completes a position in the bundled example workspace with the built-in offline engine (no
# model, no server, no settings): the suggestion comes from the index of the workspace's code.
# SET="backend.url=..." asks an LLM backend instead.
run: $(VENV)/.installed
	@$(VENV)/bin/infill complete $(EXAMPLE) --root $(EXAMPLE_ROOT) $(foreach s,$(SET),--set $(s))

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy server context prompts backends postprocess

test: $(VENV)/.installed-test lint
	$(PY) -m pytest

# The extension in a real VS Code alone (`make test` runs it too): code-server driven in
# headless Chromium (tests/test_vscode_e2e.py). The first run on a machine installs Debian's
# chromium, Node 24 and code-server (a native build of about 3 minutes) into
# ~/.cache/infill/vscode-e2e/; then about 30 s per run. Needs ~1.3 GB of memory.
test-vscode: $(VENV)/.installed-test
	$(PY) -m pytest tests/test_vscode_e2e.py

# The fuzz tests with 20 times the cases `make test` runs (malformed frames, params and edits
# against the real server, the framing, the document store, credentials; ~5 minutes).
fuzz: $(VENV)/.installed-test
	INFILL_FUZZ_SCALE=20 $(PY) -m pytest tests/test_fuzz_lsp.py tests/test_framing.py \
	  tests/test_document.py tests/test_credentials.py

# A typing session of 10,000 requests against the real server (`make test` runs 2,000): memory,
# Python objects, tasks, file handles and sockets after the warm-up and at the end (~20 s).
soak: $(VENV)/.installed-test
	INFILL_SOAK_REQUESTS=10000 $(PY) -m pytest -s tests/test_soak.py

# Latency: real typing replayed against infill and against tabby-agent 1.5.0 (installed from npm
# on first use), both on a fake model of 150 ms to first token and 60 tokens/s (~6 minutes);
# writes results.json and latency_cdf.png to bench/results/latency-<timestamp>/.
bench: $(VENV)/.installed-bench
	$(PY) -m bench.latency --peer tabby-agent

# A local model: a typing session (five asyncio files open, ~400 characters of streams.py typed
# key by key, a pause at each line end) into infill with its llamacpp and openai backend kinds,
# each against its own real llama-server (the tests' build), with the tests' tiny model and a
# random model of Qwen2.5-Coder-0.5B's shape (written once, ~1.3 GB, into ~/.cache/infill).
# Prompt tokens reused and evaluated per request, time to first token, pause -> ghost text;
# results.json in bench/results/local-<timestamp>/. LLAMA_VIM=DIR (a llama.vim checkout) runs
# llama.vim in headless Neovim too; FLAGS="..." the llama-server flags ("default": none);
# ARGS="..." more options (python -m bench.local --help).
bench-local: $(VENV)/.installed-test
	$(PY) -m bench.local $(if $(LLAMA_VIM),--peer llama.vim --peer-path $(LLAMA_VIM)) \
	  $(if $(FLAGS),--server-flags "$(FLAGS)") $(ARGS)

# Context engine: cross-file definition recall on installed packages, and latency per request
# on a ~3,000-line file with 20 open documents and the standard library indexed (~1 minute).
bench-context: $(VENV)/.installed
	$(PY) bench/context.py recall
	$(PY) bench/context.py latency

# Post-processing: raw model output (SAFIM and HumanEval overruns, Continue's and CrossCodeEval's
# recorded outputs) through the real server into the accepted document; needs ../shared/data.
bench-postprocess: $(VENV)/.installed
	$(PY) bench/postprocess_eval.py

# Offline engine: held-out files of the standard library and of installed packages, the line
# predicted at the start of every non-blank line; coverage, precision, latency, index size
# (~5 minutes).
bench-ngram: $(VENV)/.installed-test
	$(PY) bench/ngram_eval.py

# Next edits without a model on real commits (renames and repeated edits in their history):
# precision and recall of the exact next edit; REPOS="DIR ..." are git clones with history.
bench-next-edit: $(VENV)/.installed
	$(PY) bench/next_edit_eval.py $(REPOS)

clean:
	rm -rf $(VENV) build *.egg-info
