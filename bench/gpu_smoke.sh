#!/usr/bin/env bash
# GPU smoke test of nnabla-nas: NOT YET RUN (written on machines without a GPU).
#
# Run it on a machine with one or more NVIDIA GPUs, from the repository's root, in the
# environment nnabla-nas is installed in (e.g. `make venv && . .venv/bin/activate`):
#
#   bash bench/gpu_smoke.sh
#
# It (1) installs the NNabla CUDA extension for your CUDA (the multi-GPU edition,
# built with NCCL and MPI, when two GPUs exist), (2) checks that NNabla sees the GPU,
# (3) runs a one-epoch DARTS search on context cudnn and prints its figures, and
# (4) with two GPUs or more, runs the same search under `mpirun -n 2` (NNabla's NCCL
# communicator, one GPU per process) and prints its figures and the ratio of the two
# search times. Outputs go under ${OUT:-/tmp/nnabla-nas-gpu-smoke}.
#
# Settings (environment variables):
#   NNABLA_EXT_CUDA  the extension package to install, e.g. nnabla-ext-cuda116 or, for
#                    several GPUs, nnabla-ext-cuda116-nccl2-mpi3-1-6 (its MPI must be
#                    the one your mpirun belongs to); default: from `nvidia-smi`'s CUDA
#                    version, see NNabla's "pip installation" pages
#   SKIP_INSTALL=1   use the extension already installed
#   MPIRUN           the mpirun to use (default: the one on PATH)
#   CONFIG           the config (default: examples/quickstart.yaml, search section)
set -euo pipefail

PYTHON=${PYTHON:-python}
OUT=${OUT:-/tmp/nnabla-nas-gpu-smoke}
CONFIG=${CONFIG:-examples/quickstart.yaml}
MPIRUN=${MPIRUN:-mpirun}

if ! command -v nvidia-smi >/dev/null; then
  echo "gpu_smoke: nvidia-smi not found: no NVIDIA driver here" >&2
  exit 1
fi
GPUS=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
CUDA=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9]*\)\.\([0-9]*\).*/\1.\2/p' | head -1)
echo "gpu_smoke: ${GPUS} GPU(s), driver CUDA ${CUDA}"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader

NNABLA_VERSION=$($PYTHON -c "import nnabla; print(nnabla.__version__)" 2>/dev/null | tail -1)
if [ -z "${SKIP_INSTALL:-}" ]; then
  if [ -z "${NNABLA_EXT_CUDA:-}" ]; then
    case "$CUDA" in
      12.*) NNABLA_EXT_CUDA=nnabla-ext-cuda120 ;;
      11.[6-9]) NNABLA_EXT_CUDA=nnabla-ext-cuda116 ;;
      11.*) NNABLA_EXT_CUDA=nnabla-ext-cuda110 ;;
      *) echo "gpu_smoke: no known nnabla-ext-cuda package for CUDA ${CUDA}; set" \
              "NNABLA_EXT_CUDA" >&2; exit 1 ;;
    esac
    if [ "$GPUS" -ge 2 ]; then
      NNABLA_EXT_CUDA="${NNABLA_EXT_CUDA}-nccl2-mpi3-1-6"
    fi
  fi
  echo "gpu_smoke: pip install ${NNABLA_EXT_CUDA}==${NNABLA_VERSION}"
  $PYTHON -m pip install "${NNABLA_EXT_CUDA}==${NNABLA_VERSION}"
fi
$PYTHON -c "import nnabla_ext.cudnn; nnabla_ext.cudnn.check_gpu('0'); print('gpu_smoke: GPU 0 usable')"

figures() {  # the summary figures of a run folder
  $PYTHON - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
for k in ("context", "processes", "search_time_s", "search_valid_accuracy",
          "search_arch_latency_ms"):
    if k in s:
        print(f"  {k}: {s[k]}")
PY
}

rm -rf "$OUT"
echo "gpu_smoke: one-epoch DARTS search on cudnn, one process"
start=$(date +%s.%N)
$PYTHON main.py search --config "$CONFIG" --output-path "$OUT/one" context=cudnn \
  search.epochs=1 search.warmup_epochs=0 quiet=true
echo "  wall_s: $(echo "$(date +%s.%N) - $start" | bc)"
figures "$OUT/one"

if [ "$GPUS" -ge 2 ]; then
  echo "gpu_smoke: the same under $MPIRUN -n 2 (NNabla's NCCL communicator)"
  start=$(date +%s.%N)
  "$MPIRUN" -n 2 $PYTHON main.py search --config "$CONFIG" --output-path "$OUT/two" \
    context=cudnn search.epochs=1 search.warmup_epochs=0 quiet=true
  echo "  wall_s: $(echo "$(date +%s.%N) - $start" | bc)"
  figures "$OUT/two"
  $PYTHON - "$OUT" <<'PY'
import json, sys
one, two = (json.load(open(f"{sys.argv[1]}/{n}/summary.json")) for n in ("one", "two"))
print(f"gpu_smoke: search time 1 GPU / 2 GPUs: "
      f"{one['search_time_s'] / two['search_time_s']:.2f}x")
PY
else
  echo "gpu_smoke: one GPU: the mpirun -n 2 run is skipped"
fi
