# The two commands of the README: `make demo` (main job on VP-Synth) and
# `make test`. Each creates the virtualenv and installs vpbench first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Extras installed with vpbench; CI adds fiftyone (`make test EXTRAS=test,fiftyone`) for the view tests.
EXTRAS ?= test
comma := ,
STAMP := $(VENV)/.vpbench-installed-$(subst $(comma),-,$(EXTRAS))
DEMO_OUT ?= demo-out
# torch/torchvision pinned to the builds on this kind of machine's disk;
# pyproject's ranges admit them (and newer 2.x releases elsewhere).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint bench install clean reference-leaderboard

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

# Builds both VP-Synth datasets; evaluates STPrivacy, raw and every non-learned baseline under `known`
# with the cpu profile on DEMO_DATASETS (synth-hmdb51 by default; adding synth-ucf101 about doubles the
# evaluation time on 2 cores).
DEMO_METHODS ?= stprivacy raw downsample-2x downsample-4x blackening strongblur weakblur
DEMO_DATASETS ?= synth-hmdb51
DEMO_BUILDS := synth-hmdb51 synth-ucf101
DEMO_RUNS := $(foreach d,$(DEMO_DATASETS),$(foreach m,$(DEMO_METHODS),demo-run/$(d)/$(m)))

# The evaluations are one queue for two workers (make -j2), one thread each: the cpu profile's small
# models gain little from a second thread. STPrivacy comes first, as its fit takes longest.
# --resume: a second `make demo` (or one after a crash) keeps what is finished and continues the rest.
demo: $(STAMP)
	$(MAKE) --no-print-directory -j2 $(addprefix demo-build/,$(DEMO_BUILDS))
	$(MAKE) --no-print-directory -j2 $(DEMO_RUNS)
	$(VENV)/bin/vpbench leaderboard --results $(DEMO_OUT)/results --out $(DEMO_OUT)/leaderboard
	@echo "leaderboard: $(DEMO_OUT)/leaderboard/leaderboard.html (also .md, .csv and the trade-off plots)"

demo-build/%: $(STAMP)
	$(VENV)/bin/vpbench build --dataset $* --out $(DEMO_OUT)/data/$* --size default --seed 0

demo-run/%: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/vpbench evaluate --method $(notdir $*) --dataset $(patsubst %/,%,$(dir $*)) --protocol known \
	  --profile cpu --seed 0 --data-root $(DEMO_OUT)/data --out $(DEMO_OUT)/results --resume

# Measurements, not tests: bench/results.json (see bench/run_all.py; BENCH_ARGS=--quick for a short run).
# bench/decode.py compares against the ffmpeg command line: installed like .ci/run does (a no-op when present).
bench: $(STAMP)
	bash tools/install-ffmpeg.sh
	$(PY) bench/run_all.py $(BENCH_ARGS)

# The committed reference results (results/reference, see its README) rendered into docs/ (the HTML page,
# 3-4 MB with its images inlined, is not committed: .gitignore).
reference-leaderboard: $(STAMP)
	$(VENV)/bin/vpbench leaderboard --results results/reference --out docs/reference-leaderboard

# Lint first: a style or import error fails `make test` (and CI) before the suite runs.
test: lint
	$(PY) -m pytest -q

# ruff (settings in pyproject.toml): lint rules and the formatter's check; `ruff format` fixes the latter.
lint: $(STAMP)
	$(VENV)/bin/ruff check vpbench tests bench tools
	$(VENV)/bin/ruff format --check vpbench tests bench tools

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .hypothesis
