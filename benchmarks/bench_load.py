"""Reading the full FER2013 CSV: fer_lib's loader against a plain pandas read, side by side.

The baseline is what a typical user writes: ``pd.read_csv`` then ``str.split`` on every row.
First in this process (the reading alone), then as whole processes, interpreter start and imports
included: ``fer-lib data info PATH`` against a ``python -c`` that reads with pandas and splits,
one after the other, best of BENCH_ROUNDS each.
Usage: python benchmarks/bench_load.py [PATH]  (PATH defaults to $FER2013_CSV)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from fer_lib.data import load_fer2013


def baseline(path: str) -> np.ndarray:
    df = pd.read_csv(path)
    return np.stack([np.array(s.split(), dtype=np.uint8) for s in df["pixels"]]).reshape(-1, 48, 48)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FER2013_CSV")
    if not path:
        sys.exit("give a path or set FER2013_CSV")
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    t_base, t_ours = [], []
    for _ in range(rounds):  # interleaved, so both see the same machine state
        t = time.perf_counter()
        ref = baseline(path)
        t_base.append(time.perf_counter() - t)
        t = time.perf_counter()
        data = load_fer2013(path)
        t_ours.append(time.perf_counter() - t)
        assert np.array_equal(ref, data.images), "the two readers disagree"
    b, o = min(t_base), min(t_ours)
    print(f"rows: {len(data)}")
    print(f"baseline (pandas + str.split): {b:.2f} s   (best of {rounds})")
    print(f"fer_lib.load_fer2013:          {o:.2f} s   (best of {rounds})")
    print(f"speed-up: {b / o:.1f}x")
    whole = {
        "pandas, python -c": [
            sys.executable,
            "-c",
            "import sys, numpy as np, pandas as pd; df = pd.read_csv(sys.argv[1]); "
            "x = np.stack([np.array(s.split(), dtype=np.uint8) for s in df['pixels']]); "
            "print(df.groupby(['Usage', 'emotion']).size())",
            path,
        ],
        "fer-lib data info": [sys.executable, "-m", "fer_lib", "data", "info", path],
    }
    best = {}
    for _ in range(rounds):
        for name, cmd in whole.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t)
    for name, t in best.items():
        print(f"whole process, {name + ':':<20} {t:.2f} s   (best of {rounds})")
    print(f"whole-process speed-up: {best['pandas, python -c'] / best['fer-lib data info']:.1f}x")


if __name__ == "__main__":
    main()
