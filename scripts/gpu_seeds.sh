#!/usr/bin/env bash
# Train one recipe with several seeds side by side on one GPU, sized to a time budget, and leave
# float16 copies of each run (best.pt, and last.pt with the whole history) for the trip back.
#
#   BUDGET=420 SEEDS="0 1 2" scripts/gpu_seeds.sh data/train.fer.xz runs/gpu OUT_DIR
#
# 1. A probe: one epoch of every seed at once. Its epoch also pays for cuDNN's warm-up, so it
#    over-estimates an epoch, and the whole probe measures the start-up (CUDA, reading the data).
# 2. The runs: as many epochs as fit in what is left of BUDGET seconds (at most MAX_EPOCHS), with
#    a schedule planned for exactly that many epochs (the default recipe is one-cycle), so the
#    last epoch ends the schedule. A run still going when the budget ends is stopped; its best.pt
#    (written atomically, chosen on PublicTest) stays valid.
# 3. fer_lib.ship.compact_run copies each run to OUT_DIR/<model>_s<seed>/ at a quarter of its size.
# The PrivateTest split need not travel: export_pretrained measures it where the whole file is.
set -u
DATA=${1:?data file}; RUNS=${2:?run folder}; OUT=${3:?output folder}
BUDGET=${BUDGET:-420}; SEEDS=${SEEDS:-"0 1 2"}; MAX_EPOCHS=${MAX_EPOCHS:-150}; MARGIN=${MARGIN:-25}
MODEL=${MODEL:-fer_vgg}
RECIPE=${RECIPE:-"--batch-size 128 --optimizer sgd --lr 0.05 --schedule onecycle --weight-decay 5e-4 --label-smoothing 0.1 --erase 0.25"}
PY=${PY:-python}
export PYTHONUNBUFFERED=1
t0=$(date +%s)
mkdir -p "$RUNS" "$OUT"
log="$OUT/gpu_seeds.log"
{ date -u; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } >>"$log" 2>&1

if [ -n "${EPOCHS:-}" ]; then  # a fixed number of epochs (more seeds of an earlier call's recipe): no probe
  left=$(( BUDGET - MARGIN )); epochs=$EPOCHS
  echo "EPOCHS=$EPOCHS given: no probe; ${left}s for the runs" >>"$log"
else
for s in $SEEDS; do
  $PY -m fer_lib train --model "$MODEL" $RECIPE --data "$DATA" --out "$RUNS/probe_s$s" --epochs 1 --seed "$s" \
      --quiet >>"$log" 2>&1 &
done
wait
probe_wall=$(( $(date +%s) - t0 ))
epoch_s=$($PY - "$RUNS" $SEEDS <<'PY'
import json, sys
from pathlib import Path
runs, seeds = Path(sys.argv[1]), sys.argv[2:]
print(max(json.loads((runs / f"probe_s{s}" / "history.json").read_text())[-1]["seconds"] for s in seeds))
PY
) || { echo "the probe failed; see above" >>"$log"; exit 1; }
startup=$($PY -c "print(max(0.0, $probe_wall - $epoch_s))")
left=$(( BUDGET - $(date +%s) + t0 - MARGIN ))
epochs=$($PY -c "print(max(1, min($MAX_EPOCHS, int(($left - $startup) / $epoch_s))))")
echo "probe: ${probe_wall}s in all, ${epoch_s}s for the slowest seed's epoch; ${left}s left: ${epochs} epochs" >>"$log"
if ! $PY -c "import sys; sys.exit(not $left > $startup + $epoch_s)"; then
  echo "too little of BUDGET=${BUDGET}s is left for one epoch after the probe; give a larger BUDGET" >>"$log"; exit 1
fi
fi

for s in $SEEDS; do
  timeout "$left" $PY -m fer_lib train --model "$MODEL" $RECIPE --data "$DATA" --out "$RUNS/${MODEL}_s$s" \
      --epochs "$epochs" --seed "$s" --quiet >>"$log" 2>&1 &
done
wait
for s in $SEEDS; do
  $PY -c "from fer_lib.ship import compact_run; compact_run('$RUNS/${MODEL}_s$s', '$OUT/${MODEL}_s$s')" >>"$log" 2>&1
  $PY - "$RUNS/${MODEL}_s$s" <<'PY' >>"$log" 2>&1
import json, sys
from pathlib import Path
h = json.loads((Path(sys.argv[1]) / "history.json").read_text())
best = max(h, key=lambda e: e["val_acc"])
print(f"{sys.argv[1]}: {len(h)} epochs, {sum(e['seconds'] for e in h):.0f}s; best PublicTest {best['val_acc']:.4f} at epoch {best['epoch']}")
PY
done
echo "done in $(( $(date +%s) - t0 ))s" >>"$log"
