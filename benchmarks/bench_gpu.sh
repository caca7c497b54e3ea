#!/usr/bin/env bash
# The U-Net on a GPU through Keras's JAX and PyTorch backends (no TensorFlow needed): predict Mpx/s and
# training patches/s for each backend (benchmarks/bench_unet.py; run that on a CPU for the numbers beside
# them), then the whole protocol (scripts/protocol.sh: train, threshold on val, predict and evaluate the
# test patients) trained MINUTES on the GPU with JAX (MINUTES=0: no protocol).
# usage: benchmarks/bench_gpu.sh DATASET [MINUTES=3] [OUT=bench-gpu] [BACKENDS="jax torch"]
# SIZE=N sets the side of the predicted image (default 4096). Each step's output goes to OUT/<step>.txt; a step that fails is reported and the next one runs.
set -uo pipefail
dataset=${1:?usage: benchmarks/bench_gpu.sh DATASET [MINUTES] [OUT] [BACKENDS]}
minutes=${2:-3}
out=${3:-bench-gpu}
backends=${4:-jax torch}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
for backend in $backends; do
  echo "== $backend: bench_unet.py"
  KERAS_BACKEND=$backend python3 "$here/bench_unet.py" --size "${SIZE:-4096}" --warm-full --train-steps 20 \
    --train-batch 8,32,64 2>&1 | grep --line-buffered -v '^[IW][0-9]\{4\} ' | tee "$out/bench_$backend.txt" \
    || echo "bench_gpu: bench_unet.py failed on $backend"
done
[ "$minutes" = 0 ] && exit 0  # MINUTES=0: the benchmarks only
echo "== jax: protocol, $minutes minutes of training"
KERAS_BACKEND=jax bash "$here/../scripts/protocol.sh" "$dataset" "$minutes" "$out/protocol" \
  --validate-minutes 0.75 2>&1 | grep --line-buffered -v '^[IW][0-9]\{4\} ' | tee "$out/protocol.txt" \
  || echo "bench_gpu: the protocol failed"
