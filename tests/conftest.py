"""Shared fixtures: small generated data that always exists, and FER2013 where it is present."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# `make test` runs one pytest-xdist worker per core. Each worker (and the CLI runs and notebook
# kernels it starts, which inherit the variable) gets its share of the cores as torch threads,
# so that two workers on two cores do not each start two threads.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault(
        "OMP_NUM_THREADS", str(max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    )

from fer_lib.synthetic import synthetic_fer  # noqa: E402  (the thread setting must come before anything imports torch)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def synth():
    """700 Training, 140 PublicTest and 140 PrivateTest generated faces."""
    return synthetic_fer(700, 140, 140, seed=0)


@pytest.fixture(scope="session")
def tiny():
    """A few faces per split, for format tests."""
    return synthetic_fer(21, 7, 7, seed=1)


@pytest.fixture(scope="session")
def synth_csv(synth, tmp_path_factory):
    from fer_lib.data import write_csv

    return write_csv(synth, tmp_path_factory.mktemp("synth") / "fer2013.csv")


@pytest.fixture(scope="session")
def real_csv():
    path = os.environ.get("FER2013_CSV")
    if not path:
        pytest.skip("FER2013_CSV is not set: real-data tests need the FER2013 CSV (see README)")
    if not Path(path).exists():
        pytest.skip(f"FER2013_CSV points at {path}, which does not exist")
    return path


@pytest.fixture(scope="session")
def real_data(real_csv):
    from fer_lib.data import load_fer2013

    return load_fer2013(real_csv)


def run_cli(*args: str, timeout: float = 300, env: dict | None = None):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "fer_lib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def toy_run(synth, tmp_path_factory):
    """report_cnn trained for a few epochs on the generated faces: a run folder with best.pt."""
    from fer_lib.train import TrainConfig, train

    out = tmp_path_factory.mktemp("toy_run")
    train(TrainConfig(epochs=5, batch_size=64, progress=False), synth, out)
    return out


@pytest.fixture(scope="session")
def toy_model(toy_run):
    from fer_lib.pretrained import load_model

    return load_model(toy_run / "best.pt")[0]
