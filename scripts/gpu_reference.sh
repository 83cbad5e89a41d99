#!/usr/bin/env bash
# The shipped models' reference runs on one GPU in one call: three seeds of the strong model (fer_vgg,
# scripts/gpu_seeds.sh's default recipe) and three seeds of report_cnn's distillation recipe
# (the experiment record rc_kd05: norm=image, Adam 1e-3, cosine over 100 epochs, flips only,
# BatchNorm statistics recomputed from 4,096 Training images before each validation,
# 0.5 x cross-entropy + 0.5 x fer_vgg_s's temperature-4 soft targets), side by side.
#
#   BUDGET=520 scripts/gpu_reference.sh data/train.fer.xz /tmp/runs OUT_DIR
#
# The output is eight files of at most 16 MiB each, easy to copy off a remote GPU machine: OUT_DIR/gpu_seeds.log,
# OUT_DIR/fer_vgg_s<seed>/{best,last}.pt (float16, weights and metadata) and
# OUT_DIR/report_cnn_runs.tar (the three report_cnn runs, compacted the same way, and their log).
set -u
DATA=${1:?data file}; RUNS=${2:?run folder}; OUT=${3:?output folder}
here=$(cd "$(dirname "$0")" && pwd)
export BUDGET=${BUDGET:-520} SEEDS=${SEEDS:-"0 1 2"} PY=${PY:-python}
RC_RECIPE=${RC_RECIPE:-"--model-arg norm=image --batch-size 128 --lr 1e-3 --schedule cosine --shift 0 --rotate 0 --scale 0 --bn-recompute 4096 --teacher fer_vgg_s --distill 0.5 --distill-temp 4"}
mkdir -p "$OUT" "$RUNS/rc_out"
MODEL=${MODEL:-fer_vgg} bash "$here/gpu_seeds.sh" "$DATA" "$RUNS/strong" "$OUT" &
MODEL=report_cnn MAX_EPOCHS=${RC_EPOCHS:-100} RECIPE="$RC_RECIPE" bash "$here/gpu_seeds.sh" "$DATA" "$RUNS/rc" "$RUNS/rc_out" &
wait
tar -C "$RUNS/rc_out" -cf "$OUT/report_cnn_runs.tar" .
{ echo "--- report_cnn"; cat "$RUNS/rc_out/gpu_seeds.log"; } >>"$OUT/gpu_seeds.log"
ls -lR "$OUT" >>"$OUT/gpu_seeds.log"
