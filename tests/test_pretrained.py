"""Shipped weights: loadable by name, and their recorded PrivateTest accuracy holds on FER2013."""
import json

import pytest

from fer_lib.errors import ConfigError
from fer_lib.models import REGISTRY
from fer_lib.pretrained import PRETRAINED_DIR, export_pretrained, load_model, measure, pretrained, pretrained_info

from .conftest import run_cli

SHIPPED = sorted(p.stem for p in PRETRAINED_DIR.glob("*.json"))


def test_export_round_trip(toy_run, synth, tmp_path):
    card = export_pretrained(toy_run, synth, name="toy", dest=tmp_path)
    assert (tmp_path / "toy.pt").stat().st_size < 25e6
    assert set(card["metrics"]) == {"PublicTest", "PrivateTest"}
    assert {"accuracy", "accuracy_flip", "accuracy_tencrop", "n"} <= set(card["metrics"]["PrivateTest"])
    assert card["data_hash"] == synth.fingerprint() and card["history"]
    model, _ = load_model(tmp_path / "toy.pt")
    again = measure(model, synth)
    assert again == card["metrics"]


def test_unknown_or_missing_pretrained_names():
    with pytest.raises(ConfigError, match="neither a checkpoint file nor a pretrained model"):
        load_model("resnet9000")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_by_name_and_is_small(name):
    assert name in REGISTRY
    assert (PRETRAINED_DIR / f"{name}.pt").stat().st_size < 25e6
    model = pretrained(name)
    assert not model.training
    info = pretrained_info(name)
    assert info["metrics"]["PrivateTest"]["n"] == 3589


def test_models_json_lists_shipped_metrics():
    r = run_cli("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    for name in SHIPPED:
        assert rows[name]["pretrained"] and "accuracy_tencrop" in rows[name]["metrics"]["PrivateTest"]


@pytest.mark.realdata
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_private_test_accuracy_holds(name, real_data):
    info = pretrained_info(name)
    assert info["data_hash"] == real_data.fingerprint()
    got = measure(pretrained(name), real_data, splits=("PrivateTest",), ttas=("none", "tencrop"))["PrivateTest"]
    for key in ("accuracy", "accuracy_tencrop"):
        assert abs(got[key] - info["metrics"]["PrivateTest"][key]) <= 1.5 / 3589, (key, got[key])  # at most one face
