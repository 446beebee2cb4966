#!/usr/bin/env bash
# The training rows of the second generalization round (issue 22), each a `finetune --paired`
# run scored by studies/score.py; a finished row (its detector folder exists) is skipped, so the
# script resumes. Usage: studies/rows.sh ROW [ROW ...]   (rows below; from the repository root)
set -euo pipefail
PY=${PY:-python}
DD="$PY -m deepfake_detect"
BASE="--paired --arch patchnet_npr_s --weights random --preprocess center_crop --image-size 128 --batch-size 16
      --lr 0.01 --epochs 10 --schedule cosine --jpeg-prob 0.5 --blur-prob 0.2 --downscale-prob 0.3 --workers 1 --bootstrap 0 --test-size 0.1"
DDA="--align-jpeg-prob 0.5 --blend-prob 0.5 --rescale-prob 0.3"
SAFE="--rotate-prob 0.3 --color-jitter-prob 0.3 --mask-prob 0.3"
declare -A ROWS=(
  [base]="runs/study/pairs_taesd.csv $BASE"
  [dda]="runs/study/pairs_taesd.csv $BASE $DDA"
  [safe]="runs/study/pairs_taesd.csv $BASE $SAFE"
  [dda_safe]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE"
  [gens]="runs/study/pairs_gens.csv $BASE"
  [gens_dda]="runs/study/pairs_gens.csv $BASE $DDA"
  [random_only]="runs/study/pairs_random.csv $BASE"
  [reals]="runs/study/pairs_all.csv $BASE"
  [reals_dda]="runs/study/pairs_all.csv $BASE $DDA"
  [reals7_dda]="runs/study/pairs_reals7.csv $BASE $DDA"
  [dda_gray]="runs/study/pairs_taesd.csv $BASE $DDA --grayscale-prob 0.1"
  [dda_safe_denoise]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE --denoise-real-prob 0.3"
  [dda_denoise]="runs/study/pairs_taesd.csv $BASE $DDA --denoise-real-prob 0.3"
  [denoise]="runs/study/pairs_taesd.csv $BASE --denoise-real-prob 0.3"
  [dda_safe_e2]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE --epochs 2"
  [dda_safe_denoise_e2]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE --denoise-real-prob 0.3 --epochs 2"
  [dda_safe_denoise5_e2]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE --denoise-real-prob 0.5 --epochs 2"
  [dda_safe_denoise_e3]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE --denoise-real-prob 0.3 --epochs 3"
  [dda_safe_denoise_e2_w256]="runs/study/pairs_w256.csv $BASE $DDA $SAFE --denoise-real-prob 0.3 --epochs 2"
  [dda_safe_denoise_e2_w128same]="runs/study/pairs_w128same.csv $BASE $DDA $SAFE --denoise-real-prob 0.3 --epochs 2"
  [dda_safe_denoise_gray_e2]="runs/study/pairs_taesd.csv $BASE $DDA $SAFE --denoise-real-prob 0.3 --grayscale-prob 0.1 --epochs 2"
)
for row in "$@"; do
  name=${row%%@*}; seed=0; [[ $row == *@* ]] && seed=${row##*@}
  out=runs/study/ft_$name$([[ $seed != 0 ]] && echo "_seed$seed" || true)
  if [[ -f $out/detector/manifest.json ]]; then echo "$out: done"; continue; fi
  resume=""; [[ -d $out ]] && resume="--resume"
  # shellcheck disable=SC2086
  $DD finetune ${ROWS[$name]} --seed "$seed" --out "$out" $resume
  $PY studies/score.py "$out/detector" --out runs/study/rows.jsonl
done
