#!/usr/bin/env bash
# Reproduce the U-Net shipped in src/napari_steatosis/unet/weights/ (one command, ~20 minutes on 2 CPU cores):
# generate 8 training patients (6 train + 2 val) and 4 held-out test patients with `steatosis sample`,
# train for at most 19 minutes, evaluate on the held-out patients, then copy model and card into the package.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build/default-model}
rm -rf "$work" && mkdir -p "$work"
steatosis sample "$work/train" --patients 8 --per-patient 3 --size 720x960 --stain mixed --seed 101 --splits 6,2,0
steatosis sample "$work/test" --patients 4 --per-patient 3 --size 720x960 --stain mixed --seed 202
steatosis train-unet "$work/train" --out "$work/model.keras" --patches-per-image 60 --grid-steps 30 \
  --max-minutes 19 --seed 0 \
  --note "Trained only on synthetic liver from 'steatosis sample' (trichrome and H&E, 6 train + 2 val patients, 720x960). Not trained on real slides: fine-tune on your own labelled images (steatosis train-unet --init) before trusting its numbers." \
  | tee "$work/train.jsonl"
steatosis predict "$work/test" --method unet --model "$work/model.keras" --out "$work/pred"
steatosis evaluate "$work/test" --pred "$work/pred" --json | tee "$work/evaluation.json"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
card = json.load(open(f"{work}/model.card.json"))
card["evaluation_on_held_out_patients"] = dict(json.load(open(f"{work}/evaluation.json")),
    data="4 patients x 3 images from 'steatosis sample --stain mixed --seed 202', never seen in training")
json.dump(card, open(f"{work}/model.card.json", "w"), indent=2)
PY
mkdir -p src/napari_steatosis/unet/weights
cp "$work/model.keras" src/napari_steatosis/unet/weights/steatosis_unet_default.keras
cp "$work/model.card.json" src/napari_steatosis/unet/weights/steatosis_unet_default.card.json
echo "default model updated from $work"
