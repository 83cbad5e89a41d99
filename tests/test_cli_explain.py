"""``fer-lib explain``'s default attribution method: occlusion, the one the saliency chapter recommends."""

import numpy as np
from PIL import Image

from fer_lib.__main__ import main


def test_explain_draws_an_occlusion_map_unless_told_otherwise(tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(tmp_path / "face.png")
    base = ["explain", str(tmp_path / "face.png"), "--model", "report_cnn", "--device", "cpu"]
    assert main([*base, "-o", str(tmp_path / "default.png")]) == 0
    out = capsys.readouterr().out
    assert "face 1: occlusion map for" in out and (tmp_path / "default.png").is_file()
    assert main([*base, "--method", "saliency", "-o", str(tmp_path / "saliency.png")]) == 0
    assert "face 1: saliency map for" in capsys.readouterr().out
