#!/usr/bin/env bash
# The whole protocol in one command, so anyone can reproduce a number:
#   train the U-Net on the train patients for MINUTES (threshold, scale fusion and completion chosen on
#   the val patients), predict the test patients, evaluate them (pooled Jaccard, % error, recall by
#   vacuole diameter, false share).
# usage: scripts/protocol.sh DATASET [MINUTES=20] [OUT=protocol-<dataset name>] [extra train-unet options...]
# e.g.   scripts/protocol.sh my_study 10 few-shot --init default
set -euo pipefail
dataset=${1:?usage: scripts/protocol.sh DATASET [MINUTES] [OUT] [train-unet options...]}
minutes=${2:-20}
out=${3:-protocol-$(basename "$dataset")}
shift $(( $# < 3 ? $# : 3 ))
mkdir -p "$out"
steatosis train-unet "$dataset" --out "$out/model.keras" --max-minutes "$minutes" "$@" | tee "$out/train.jsonl"
mapfile -t test_images < <(python3 -c "
import sys
from napari_steatosis.data.dataset import Dataset
ds = Dataset.open(sys.argv[1])
print('\n'.join(str(ds.image_path(r)) for r in ds.records_in('test') if ds.has_label(r, 'steatosis')))
" "$dataset")
if [ ${#test_images[@]} -eq 0 ]; then
  echo "protocol: $dataset has no labelled test patients (split=test); nothing to evaluate" >&2
  exit 2
fi
steatosis predict "${test_images[@]}" --model "$out/model.keras" --out "$out/pred"
steatosis evaluate "$dataset" --pred "$out/pred" --split test --out "$out/evaluation" | tee "$out/evaluation.txt"
steatosis evaluate "$dataset" --pred "$out/pred" --split test --json > "$out/evaluation.json"
echo "protocol: model, curve, predictions and evaluation in $out"
