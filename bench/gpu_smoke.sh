#!/usr/bin/env bash
# GPU smoke test (issue 21, item 4): every registered method, learned and fixed, evaluated end to end on
# tiny VP-Synth with the paper profile on one GPU in bf16; one line per method (exit status, wall seconds,
# peak GPU memory) and a summary table. Exits non-zero if any method failed or timed out.
#
#   bash bench/gpu_smoke.sh                     # short schedules (see SMOKE_SCHEDULE), every method
#   SMOKE_SCHEDULE=full bash bench/gpu_smoke.sh # the shipped paper profile as is (hours on real data; minutes here)
#   VIT_S_WEIGHTS=deit_s.pth SMOKE_METHODS="stprivacy raw" bash bench/gpu_smoke.sh
#
# Environment:
#   WORK            working folder (dataset, results, logs, summary.tsv); default ${TMPDIR:-/tmp}/vpbench-gpu-smoke.
#                   $WORK/results and $WORK/logs are emptied at the start of every run.
#   SMOKE_METHODS   methods to run (default: every one `vpbench methods` lists).
#   SMOKE_TIMEOUT   seconds per method before it is stopped and counted as failed (default 900).
#   SMOKE_SCHEDULE  short (default): the paper profile's networks, crops, clip length and batch sizes, with
#                   every count of epochs or steps cut to 1 and warm-ups to 0 (a models folder written to
#                   $WORK/models, passed as --models-dir; the rule tests/methods/test_paper_profiles.py uses, batches
#                   kept); full: the shipped paper profile unchanged.
#   VIT_S_WEIGHTS   a local timm-format ViT-S/16 (DeiT-S) state dict for STPrivacy's ImageNet initialization
#                   (--option init_weights=PATH); without it STPrivacy runs with init_weights=none.
#   SMOKE_PRECISION fp32 or bf16 (default bf16).
#   SMOKE_PYTHON    a Python that already has vpbench (and a CUDA torch) installed: no virtualenv is made.
#                   Default: the Makefile's .venv, created and installed by `make install` as `make test` does.
#   SMOKE_DEVICE    cuda (default) or cpu (to check this script without a GPU: no GPU checks, no memory).
#
# Peak GPU memory is torch.cuda.max_memory_allocated() of the evaluation process (tensors the caching
# allocator handed out; the CUDA context and allocator slack, a few hundred MiB, are not in it). On tiny
# VP-Synth (16 training videos) a batch never exceeds 16 clips, so the peak is below what a real-suite run
# with the paper's batch sizes needs.
set -euo pipefail

DEVICE="${SMOKE_DEVICE:-cuda}"
die() { echo "gpu_smoke.sh: $*" >&2; exit 1; }

# The GPU check comes first, before any install: no nvidia-smi, no GPU.
if [ "$DEVICE" != "cpu" ]; then
  command -v nvidia-smi >/dev/null 2>&1 || die "no GPU: nvidia-smi is not on PATH (this smoke test needs an NVIDIA GPU)"
  nvidia-smi -L >/dev/null 2>&1 || die "no GPU: nvidia-smi finds no usable NVIDIA GPU ($(nvidia-smi -L 2>&1 | head -1))"
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-${TMPDIR:-/tmp}/vpbench-gpu-smoke}"
SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-900}"
SCHEDULE="${SMOKE_SCHEDULE:-short}"
PRECISION="${SMOKE_PRECISION:-bf16}"
case "$SCHEDULE" in short|full) ;; *) die "SMOKE_SCHEDULE must be short or full, not '$SCHEDULE'" ;; esac
[[ "$SMOKE_TIMEOUT" =~ ^[0-9]+$ ]] || die "SMOKE_TIMEOUT must be a whole number of seconds, not '$SMOKE_TIMEOUT'"
if [ -n "${VIT_S_WEIGHTS:-}" ] && [ ! -f "$VIT_S_WEIGHTS" ]; then
  die "VIT_S_WEIGHTS=$VIT_S_WEIGHTS is not a file"
fi

# The virtualenv of `make test` / `make bench`: .venv, torch pins and `pip install -e '.[test]'` (make install).
if [ -n "${SMOKE_PYTHON:-}" ]; then
  PY="$SMOKE_PYTHON"
else
  echo "== virtualenv: $REPO/.venv (make install)"
  make -C "$REPO" --no-print-directory install
  PY="$REPO/.venv/bin/python"
fi
"$PY" -c "import vpbench" 2>/dev/null || die "$PY cannot import vpbench"
if [ "$DEVICE" != "cpu" ]; then
  "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || die "no GPU: torch.cuda.is_available() is false in $PY (torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?'))"
  echo "== GPU: $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)')"
fi
vpbench() { "$PY" -m vpbench "$@"; }

mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
rm -rf "$WORK/results" "$WORK/logs"
mkdir -p "$WORK/results" "$WORK/logs"

echo "== building tiny VP-Synth: $WORK/synth-hmdb51"
vpbench build --dataset synth-hmdb51 --size tiny --seed 0 --out "$WORK/synth-hmdb51" >"$WORK/logs/build.log" 2>&1 \
  || { tail -n 20 "$WORK/logs/build.log" >&2; die "building tiny VP-Synth failed (log: $WORK/logs/build.log)"; }

MODELS_ARGS=()
if [ "$SCHEDULE" = "short" ]; then
  # The shipped cards with every paper-profile epoch/step count cut to one (as tests/methods/test_paper_profiles.py).
  "$PY" -c 'import sys; from vpbench.core.config import write_one_step_models; write_one_step_models(sys.argv[1])' "$WORK/models"
  MODELS_ARGS=(--models-dir "$WORK/models")
  echo "== schedule: short (paper profile, every epoch/step count cut to 1: $WORK/models)"
else
  echo "== schedule: full (the shipped paper profile)"
fi

if [ -n "${SMOKE_METHODS:-}" ]; then
  read -r -a METHODS <<<"$SMOKE_METHODS"
else
  mapfile -t METHODS < <(vpbench methods | awk 'NF {print $1}')
fi
[ "${#METHODS[@]}" -gt 0 ] || die "no methods to run (vpbench methods listed none)"
echo "== methods: ${METHODS[*]}"

# Runs `vpbench evaluate` in-process and writes the process's peak GPU memory (MiB) to $SMOKE_PEAK_FILE,
# also when the command fails or is stopped by `timeout` (SIGTERM: vpbench exits 143 through SystemExit).
WRAPPER='
import os, sys
from vpbench.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
finally:
    peak = "-"
    if os.environ.get("SMOKE_DEVICE", "cuda") != "cpu":
        import torch
        if torch.cuda.is_available():
            peak = "%.0f" % (max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count())) / 2**20)
    with open(os.environ["SMOKE_PEAK_FILE"], "w") as f:
        f.write(peak + "\n")
sys.exit(code)
'

REPORT="$WORK/summary.tsv"
printf 'method\tstatus\twall_s\tpeak_gpu_mib\n' >"$REPORT"
failed=()
for method in "${METHODS[@]}"; do
  args=(evaluate --method "$method" --protocol known --dataset synth-hmdb51 --data-root "$WORK" --profile paper
        --seed 0 --device "$DEVICE" --precision "$PRECISION" --out "$WORK/results" "${MODELS_ARGS[@]}")
  if [ "$method" = "stprivacy" ]; then
    if [ -n "${VIT_S_WEIGHTS:-}" ]; then
      args+=(--option "init_weights=$VIT_S_WEIGHTS")
    else
      echo "   note: stprivacy runs with --option init_weights=none (random ViT weights; set VIT_S_WEIGHTS=PATH for the ImageNet ViT-S)"
      args+=(--option init_weights=none)
    fi
  fi
  log="$WORK/logs/$method.log"
  peak_file="$WORK/logs/$method.peak"
  start=$(date +%s.%N)
  status=0
  SMOKE_PEAK_FILE="$peak_file" SMOKE_DEVICE="$DEVICE" \
    timeout --kill-after=60 "$SMOKE_TIMEOUT" "$PY" -c "$WRAPPER" "${args[@]}" >"$log" 2>&1 || status=$?
  wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  peak=$(cat "$peak_file" 2>/dev/null || echo "?")
  case "$status" in
    0) what="ok" ;;
    124|137) what="timeout(${SMOKE_TIMEOUT}s)" ;;
    *) what="exit $status" ;;
  esac
  printf '%-14s %-16s %8s s  peak %6s MiB\n' "$method" "$what" "$wall" "$peak"
  printf '%s\t%s\t%s\t%s\n' "$method" "$what" "$wall" "$peak" >>"$REPORT"
  if [ "$status" -ne 0 ]; then
    failed+=("$method")
    tail -n 8 "$log" | sed 's/^/   | /'
    echo "   (full log: $log)"
  fi
done

echo
echo "== summary (device $DEVICE, precision $PRECISION, schedule $SCHEDULE, timeout ${SMOKE_TIMEOUT}s; $REPORT)"
column -t -s $'\t' "$REPORT" 2>/dev/null || cat "$REPORT"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "gpu_smoke.sh: ${#failed[@]} of ${#METHODS[@]} method(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "gpu_smoke.sh: all ${#METHODS[@]} methods ran"
