"""The book's figures are drawn at the width the page shows them at (672 px at 1280 px), with no text under
10 px there, their legends off the data, and their smallest font size recorded in the image they become."""

from __future__ import annotations

import importlib.util
import struct
import sys
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

from fer_lib.data import CLASSES
from fer_report import figures as F

from .conftest import REPO

matplotlib.use("Agg")

SPEC = importlib.util.spec_from_file_location("check_pages", REPO / "scripts" / "check_pages.py")
checker = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = checker
SPEC.loader.exec_module(checker)

RNG = np.random.default_rng(0)
FACES = RNG.integers(0, 256, (8, 48, 48), dtype=np.uint8)
HISTORY = [
    {
        "epoch": e,
        "loss": 1.6 - 0.1 * e,
        "acc": 0.4 + 0.03 * e,
        "val_loss": 1.5 - 0.05 * e,
        "val_acc": 0.45 + 0.02 * e,
    }
    for e in range(1, 9)
]
METHODS = ["saliency", "input_x_gradient", "integrated_gradients", "smoothgrad", "guided_backprop", "gradcam"]


def curves() -> dict:
    fr = np.linspace(0, 1, 11)
    out = {}
    for m in [*METHODS, "random"]:
        d, i = RNG.random((5, 11)), RNG.random((5, 11))
        out[m] = {
            "fractions": fr,
            "deletion": d,
            "insertion": i,
            "deletion_auc": d.mean(1),
            "insertion_auc": i.mean(1),
        }
    return out


FIGURES = {
    "class_balance": lambda synth: F.class_balance(synth),
    "face_grid": lambda synth: F.face_grid(FACES, [f"{c} 0.93" for c in (CLASSES * 2)[:8]], ncols=4),
    "samples_per_class": lambda synth: F.samples_per_class(synth, per_class=6),
    "history_curves": lambda synth: F.history_curves(
        HISTORY, "report_cnn", {"val_acc": 0.651, "val_loss": 1.0013}
    ),
    "validation_curves": lambda synth: F.validation_curves(
        {"shipped report_cnn": HISTORY, "rc_flipcos_b128_img": HISTORY[:5]}, 0.651, "original val_acc", "t"
    ),
    "confusion_heatmaps": lambda synth: F.confusion_heatmaps(RNG.integers(1, 900, (7, 7)), "report_cnn"),
    "per_class_bars": lambda synth: F.per_class_bars(
        {c: {"precision": 0.5, "recall": 0.6, "f1": 0.55} for c in CLASSES}
    ),
    "overlay_grid": lambda synth: F.overlay_grid(
        FACES[:3], {m: RNG.random((3, 48, 48)) for m in METHODS}, ["angry 0.81", "happy 0.97", "fear 0.42"]
    ),
    "filter_grid": lambda synth: F.filter_grid(RNG.random((16, 6, 6)), ncols=8),
    "parameter_bars": lambda synth: F.parameter_bars(
        [SimpleNamespace(name=f"conv2d_{i}", params=10 ** (i + 2)) for i in range(6)], "parameters"
    ),
    "randomization_plot": lambda synth: F.randomization_plot(
        {m: [(f"block{k}.conv", 1 - k / 6) for k in range(7)] for m in METHODS}
    ),
    "deletion_insertion_plot": lambda synth: F.deletion_insertion_plot(curves(), "report_cnn"),
    "photo_and_crops": lambda synth: F.photo_and_crops(
        RNG.integers(0, 256, (300, 400, 3), dtype=np.uint8), FACES[:2], FACES[2:8], ["happy 0.9", "sad 0.4"]
    ),
    "filter_rows": lambda synth: F.filter_rows(
        RNG.random((3, 48, 48)),
        FACES[:6].reshape(3, 2, 48, 48).repeat(3, axis=1),
        ["happy"] * 18,
        ["f1", "f2", "f3"],
    ),
}


def natural_width(data: bytes) -> int:
    if data.startswith(b"\x89PNG"):
        return struct.unpack(">I", data[16:20])[0]
    import io

    from PIL import Image

    return Image.open(io.BytesIO(data)).size[0]


@pytest.mark.parametrize("name", list(FIGURES))
def test_figures_are_drawn_at_the_shown_width_with_legible_text_and_legends_off_the_data(name, synth):
    fig = FIGURES[name](synth)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), (
                f"{name}: a legend covers the data"
            )
    data = F.as_image(fig, jpeg=name in ("face_grid", "filter_grid", "overlay_grid", "filter_rows")).data
    width, px = natural_width(data), checker.recorded_font_px(data)
    assert width <= F.SHOWN_WIDTH_PX * 1.03, f"{name}: {width} px wide, shown at {F.SHOWN_WIDTH_PX}"
    shown = px * min(1.0, F.SHOWN_WIDTH_PX / width)
    assert shown >= 10, f"{name}: its smallest text is {shown:.1f} px where the page shows it"


def test_the_smallest_font_is_the_smallest_text_drawn():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_title("title", fontsize=12)
    ax.annotate("note", (0.5, 0.5), fontsize=9)
    ax.legend(fontsize=11)
    ax.tick_params(labelsize=10)
    fig.canvas.draw()
    assert F.smallest_font_px(fig, 100) == pytest.approx(9 * 100 / 72)
    ax.axis("off")  # tick labels of an axes that is off are not drawn; the note still is
    ax.texts[0].set_visible(False)
    assert F.smallest_font_px(fig, 72) == pytest.approx(11)
    plt.close(fig)
