"""Q4: where the models look, whether their maps can be trusted, and a verdict on the original's reading.

The chapter computes maps and curves with ``fer_lib.attribution``; these functions turn them into
the tables and sentences the chapter shows, with an uncertainty wherever a comparison is made, so
that a difference within the noise is called a tie.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown
from matplotlib import pyplot as plt
from pandas.io.formats.style import Styler
from torch import nn

from fer_lib import attribution as A
from fer_lib.attribution import REGIONS, brightness_correlation, region_shares
from fer_lib.data import CLASSES, FerData
from fer_lib.evaluate import predict_logits, to_float_images
from fer_report import figures
from fer_report.prose import first_sentence
from fer_report.sources import model_for
from fer_report.tables import readable

RANDOMISATION_THRESHOLD = 0.5  # rank correlation with the trained model's maps after full randomisation
MODELS = ("report_cnn", "simple_cnn")
SHOWN = ("saliency", "integrated_gradients", "gradcam", "occlusion")  # the four methods of the first figure


def region_table(maps: dict[str, dict[str, torch.Tensor]], x: torch.Tensor) -> pd.DataFrame:
    """Per (model, method): the mean share of attribution in each face band and the brightness correlation."""
    rows = [
        {"model": name, "method": m, **region_shares(a), "brightness rho": brightness_correlation(a, x)}
        for name, by_method in maps.items()
        for m, a in by_method.items()
    ]
    return pd.DataFrame(rows).set_index(["model", "method"])


def randomisation_table(
    results: dict[str, dict[str, list[tuple[str, float]]]], threshold: float = RANDOMISATION_THRESHOLD
) -> pd.DataFrame:
    """Per (model, method): rho after the top layer and after all layers are randomised, and whether the
    method passes (its maps decorrelate to ``threshold`` or below) with its margin."""
    rows = []
    for name, by_method in results.items():
        for m, curve in by_method.items():
            full = curve[-1][1]
            rows.append(
                {
                    "model": name,
                    "method": m,
                    "rho after the top layer": curve[1][1],
                    "rho fully randomised": full,
                    "passes": full <= threshold,
                    "margin": threshold - full,
                }
            )
    return pd.DataFrame(rows).set_index(["model", "method"])


def paired_difference(a: np.ndarray, b: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    """The mean of ``a - b`` over paired faces and its 95% interval (normal approximation)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    half = z * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("inf")
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def versus(outcome: str) -> str:
    """'better than', 'worse than' or 'tied with': an outcome of ``auc_table`` before 'random'."""
    return {"better": "better than", "worse": "worse than"}.get(outcome, "tied with")


def _compare(lo: float, hi: float, lower_is_better: bool) -> str:
    if lo <= 0 <= hi:
        return "tie"
    better = hi < 0 if lower_is_better else lo > 0
    return "better" if better else "worse"


def auc_table(curves: dict[str, dict[str, dict[str, np.ndarray]]]) -> pd.DataFrame:
    """Per (model, method): mean deletion and insertion AUC, each against the random ordering on the same
    faces (the paired difference, its 95% interval, and better / tie / worse)."""
    rows = []
    for name, by_method in curves.items():
        rand = by_method["random"]
        for m, c in by_method.items():
            if m == "random":
                continue
            row = {"model": name, "method": m}
            for key, lower in (("deletion", True), ("insertion", False)):
                d, lo, hi = paired_difference(c[f"{key}_auc"], rand[f"{key}_auc"])
                row |= {
                    f"{key} AUC": float(np.mean(c[f"{key}_auc"])),
                    f"{key} vs random": d,
                    f"{key} 95% interval": f"[{lo:+.3f}, {hi:+.3f}]",
                    f"{key}": _compare(lo, hi, lower),
                }
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "method"])


def verdict(
    regions: pd.DataFrame, randomisation: pd.DataFrame, aucs: pd.DataFrame, model: str = "report_cnn"
) -> str:
    """Markdown: the original report's reading of its saliency maps, held against the measurements."""
    sal = regions.loc[(model, "saliency")]
    bands = list(REGIONS)
    top = sal[bands].idxmax()
    height = {r: (hi - lo) / 48 for r, (lo, hi) in REGIONS.items()}
    rt = randomisation.loc[model]
    passed = [m for m in rt.index if rt.loc[m, "passes"]]
    failed = [m for m in rt.index if not rt.loc[m, "passes"]]
    a = aucs.loc[model]
    s = a.loc["saliency"]
    lines = [
        f"- **Where saliency looks.** On {model}, plain saliency puts {sal[top]:.0%} of its attribution on "
        "the "
        f"{top} band ({height[top]:.0%} of the face's height) and {sal['forehead']:.0%} on the forehead "
        f"({height['forehead']:.0%} of the height). The original saw the forehead light up in some maps; "
        + (
            "on average here the forehead gets less than its area's share."
            if sal["forehead"] < height["forehead"]
            else "here too the forehead gets at least its area's share."
        ),
        "- **Is it brightness?** Saliency's rank correlation with pixel brightness is "
        f"{sal['brightness rho']:+.2f} "
        "(face by face, averaged): "
        + (
            "too weak to say the maps follow bright skin, so the original's 'perhaps because it is "
            "brighter' is "
            "not borne out."
            if abs(sal["brightness rho"]) < 0.2
            else "a real tie to brightness, as the original suspected."
        ),
        f"- **Do the maps depend on what the model learned?** {len(passed)} of {len(rt)} methods pass the "
        f"randomisation test on {model} (rho at most {RANDOMISATION_THRESHOLD} once every layer is random): "
        + ", ".join(f"{m} ({rt.loc[m, 'rho fully randomised']:+.2f})" for m in passed)
        + (
            "; these fail: "
            + ", ".join(f"{m} ({rt.loc[m, 'rho fully randomised']:+.2f})" for m in failed)
            + "."
            if failed
            else "."
        )
        + f" Saliency {'passes' if rt.loc['saliency', 'passes'] else 'fails'} "
        f"(rho {rt.loc['saliency', 'rho fully randomised']:+.2f}).",
        "- **Do its top pixels matter?** Saliency's deletion AUC is "
        f"{versus(s['deletion'])} a random pixel order on the same faces "
        f"({s['deletion vs random']:+.3f}, 95% interval {s['deletion 95% interval']}; lower is better), "
        "and its insertion AUC is "
        f"{versus(s['insertion'])} random ({s['insertion vs random']:+.3f}, {s['insertion 95% interval']}; "
        "higher is better).",
    ]
    if "integrated_gradients" in a.index:
        ig_rand = rt.loc["integrated_gradients"]
        ig = a.loc["integrated_gradients"]
        best_del = a["deletion AUC"].idxmin()
        lines.append(
            f"- **Integrated gradients** {'passes' if ig_rand['passes'] else 'fails'} the randomisation test "
            f"(rho {ig_rand['rho fully randomised']:+.2f}) and its deletion AUC is {versus(ig['deletion'])} "
            f"random ({ig['deletion vs random']:+.3f})"
            + ("; it is the best of all methods" if best_del == "integrated_gradients" else "")
            + ". "
            + (
                "Both are true at once because the two tests ask different things. Integrated gradients "
                "multiplies "
                "each gradient by how far the pixel is from the blurred baseline, so its maps carry the "
                "face's own "
                "edges whatever the weights are (what the randomisation test catches); and the pixels that "
                "differ "
                "most from the blur are also the ones whose removal hurts any face classifier (what deletion "
                "rewards). Use it to find pixels the prediction depends on; do not read its picture as what "
                "the "
                "model learned."
                if not ig_rand["passes"]
                else "It is both model-dependent and faithful here, the best combination of the methods."
            )
        )
    return "\n".join(lines)


def conclusion(
    regions: pd.DataFrame, randomisation: pd.DataFrame, aucs: pd.DataFrame, model: str = "report_cnn"
) -> str:
    """Two sentences that open the chapter, each claim as strong as its measurement."""
    sal = regions.loc[(model, "saliency")]
    top = sal[list(REGIONS)].idxmax()
    rho = sal["brightness rho"]
    rt = randomisation.loc[model]
    s = aucs.loc[(model, "saliency")]
    n_pass = int(rt["passes"].sum())
    brightness = (
        f"hardly follows brightness (rho {rho:+.2f}), so the original's 'bright forehead' reading does not "
        "hold on average"
        if abs(rho) < 0.2
        else f"follows brightness (rho {rho:+.2f}), as the original suspected"
    )
    among = "among them" if rt.loc["saliency", "passes"] else "not among them"
    return (
        f"Plain saliency on {model} looks mostly at the {top} band ({sal[top]:.0%} of its attribution; "
        f"forehead {sal['forehead']:.0%}) and {brightness}. {n_pass} of {len(rt)} methods pass the "
        f"randomisation test, saliency {among}, and saliency's deletion curve is {versus(s['deletion'])} a "
        "random pixel order."
    )


# --------------------------------------------------------------------------- what the notebook calls


def load_models(run_dir: str | Path, use_pretrained: bool = False) -> dict[str, nn.Module]:
    """The chapter's two trained models by name (run folder, else the shipped weights)."""
    return {name: model_for(name, run_dir, use_pretrained)[0] for name in MODELS}


def method_names(methods: str | Sequence[str]) -> list[str]:
    """The attribution methods to run: 'all' is every method of ``fer_lib.attribution``, in its order."""
    return list(A.METHODS) if methods == "all" else [methods] if isinstance(methods, str) else list(methods)


def probability_titles(probs: torch.Tensor, labels: Sequence[int]) -> list[str]:
    """Each face's true class and the model's probability for it, e.g. 'happy 0.93'."""
    return [f"{CLASSES[c]} {float(probs[i, c]):.2f}" for i, c in enumerate(labels)]


def spread_rows(n: int, k: int = 4) -> list[int]:
    """``k`` row indices spread evenly over ``n`` rows (every class once when there is one face per class)."""
    return list(range(0, n, max(1, n // k)))[:k]


@dataclass
class Attributions:
    """The picked faces and every method's maps of them, per model."""

    images: np.ndarray  # (n, 48, 48) uint8
    x: torch.Tensor  # (n, 1, 48, 48) in [0, 1]
    labels: torch.Tensor
    maps: dict[str, dict[str, torch.Tensor]]  # model -> method -> (n, 1, 48, 48)
    titles: dict[str, list[str]]  # model -> each face's true class and its probability


@contextmanager
def seeded_noise(seed: int) -> Iterator[None]:
    """Seed torch's global generator with ``seed`` for the block (smoothgrad draws its noise from it, and it
    starts from a random seed in every process), and give the caller's generator state back after it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def attribution_maps(
    models: dict[str, nn.Module],
    data: FerData,
    pick: np.ndarray,
    *,
    methods: Sequence[str] = tuple(A.METHODS),
    seed: int = 0,
    **opts: Any,
) -> Attributions:
    """Every method's maps of the picked PrivateTest faces (their true classes) for each model."""
    test = data.split("PrivateTest")
    images = test.images[pick]
    x, t = to_float_images(images), torch.as_tensor(test.labels[pick])
    maps, titles = {}, {}
    with seeded_noise(seed):
        for name, model in models.items():
            titles[name] = probability_titles(predict_logits(model, images).softmax(1), t.tolist())
            maps[name] = {m: A.attribute(model, x, t, m, **opts) for m in methods}
    return Attributions(images, x, t, maps, titles)


def few_faces_figure(
    att: Attributions, model: str = "report_cnn", shown: Sequence[str] = SHOWN
) -> plt.Figure:
    """Four faces spread over the picked ones and the four methods of ``shown`` that ran, on ``model``."""
    few = spread_rows(len(att.images))
    maps = att.maps[model]
    return figures.overlay_grid(
        att.images[few],
        {m: A.to_display(maps[m][few]) for m in shown if m in maps},
        [att.titles[model][i] for i in few],
    )


def grid_figure(att: Attributions, model: str) -> plt.Figure:
    """Every method on every picked face, for ``model``."""
    maps = {m: A.to_display(a) for m, a in att.maps[model].items()}
    return figures.overlay_grid(att.images, maps, att.titles[model])


def randomisation_results(
    models: dict[str, nn.Module],
    data: FerData,
    n_faces: int,
    *,
    methods: Sequence[str] = tuple(A.METHODS),
    seed: int = 0,
    **opts: Any,
) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """The cascading randomisation test on the first ``n_faces`` PrivateTest faces, per model."""
    test = data.split("PrivateTest")
    x, t = to_float_images(test.images[:n_faces]), torch.as_tensor(test.labels[:n_faces])
    with seeded_noise(seed):
        return {
            name: A.randomization_test(model, x, t, methods, seed=seed, **opts)
            for name, model in models.items()
        }


def randomisation_figure(results: dict[str, dict[str, list[tuple[str, float]]]], model: str) -> plt.Figure:
    """One model's rank correlations as its layers are randomised from the output down."""
    return figures.randomization_plot(results[model], f"{model}: model-parameter randomisation")


def deletion_curves(
    models: dict[str, nn.Module],
    data: FerData,
    n_faces: int,
    bf16: bool | None = None,
    *,
    methods: Sequence[str] = tuple(A.METHODS),
    seed: int = 0,
    **opts: Any,
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Deletion and insertion curves on the first ``n_faces`` PrivateTest faces, per model: a random pixel
    order first, then each method's (``bf16``: None where it pays, see ``fer_lib.attribution``)."""
    test = data.split("PrivateTest")
    x, t = to_float_images(test.images[:n_faces]), torch.as_tensor(test.labels[:n_faces])
    curves = {}
    with seeded_noise(seed):
        for name, model in models.items():
            curves[name] = {"random": A.deletion_insertion(model, x, t, None, seed=seed, bf16=bf16)}
            for m in methods:
                maps = A.attribute(model, x, t, m, **opts)
                curves[name][m] = A.deletion_insertion(model, x, t, maps, bf16=bf16)
    return curves


def curves_figure(curves: dict[str, dict[str, dict[str, np.ndarray]]], model: str) -> plt.Figure:
    """One model's mean true-class probability as pixels are deleted and inserted, per method."""
    return figures.deletion_insertion_plot(curves[model], model)


def styled_regions(regions: pd.DataFrame) -> Styler:
    """The region table as shown: two decimals, each band's share shaded."""
    return regions.style.format("{:.2f}").background_gradient(cmap="Blues", subset=list(REGIONS))


def styled_randomisation(table: pd.DataFrame) -> Styler:
    """The randomisation table as shown: signed correlations and margins to two decimals, yes or no."""
    signed = {"rho after the top layer": "{:+.2f}", "rho fully randomised": "{:+.2f}", "margin": "{:+.2f}"}
    return readable(table).style.format(signed)


def styled_aucs(aucs: pd.DataFrame, kind: str = "deletion") -> Styler:
    """One half of the AUC table as shown (``kind``: 'deletion' or 'insertion', so that each fits the page):
    AUCs to three decimals, differences from random signed, column names without the repeated kind."""
    part = aucs[[c for c in aucs.columns if c.startswith(kind)]]
    part = part.rename(columns=lambda c: c.removeprefix(kind).strip() or "outcome")
    return part.style.format({"AUC": "{:.3f}", "vs random": "{:+.3f}"})


def chapter_values(
    regions: pd.DataFrame,
    randomisation: pd.DataFrame,
    aucs: pd.DataFrame,
    *,
    n_faces: int,
    n_random: int,
    n_eval: int,
) -> dict[str, Any]:
    """The values the chapter's text reads, by glue name: the answer, its first sentence, the verdict,
    and how many faces each measurement used."""
    answer = conclusion(regions, randomisation, aucs)
    return {
        "q4_answer": Markdown(answer),
        "q4_finding": first_sentence(answer),
        "q4_verdict": Markdown(verdict(regions, randomisation, aucs)),
        "q4_n_faces": str(n_faces),
        "q4_rand_n": str(n_random),
        "q4_eval_n": str(n_eval),
    }
