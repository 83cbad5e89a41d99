"""Q4: where the models look, whether their maps can be trusted, and a verdict on the original's reading.

The chapter computes maps and curves with ``fer_lib.attribution``; these functions turn them into
the tables and sentences the chapter shows, with an uncertainty wherever a comparison is made, so
that a difference within the noise is called a tie.
"""

from __future__ import annotations

import math
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
from torch import nn

from fer_lib import attribution as A
from fer_lib.attribution import REGIONS, brightness_correlation, region_shares
from fer_lib.data import CLASSES, FerData
from fer_lib.device import bf16_pays
from fer_lib.evaluate import predict_logits, to_float_images
from fer_report import figures
from fer_report.claims import hold
from fer_report.pipe_tables import pipe_table
from fer_report.sources import model_for

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
                    f"{key} low": lo,
                    f"{key} high": hi,
                }
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "method"])


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
    bf16: bool | None = None,
    **opts: Any,
) -> Attributions:
    """Every method's maps of the picked PrivateTest faces (their true classes) for each model (``bf16``:
    None where it pays, see ``fer_lib.attribution.attribute``)."""
    test = data.split("PrivateTest")
    images = test.images[pick]
    x, t = to_float_images(images), torch.as_tensor(test.labels[pick])
    maps, titles = {}, {}
    with seeded_noise(seed):
        for name, model in models.items():
            titles[name] = probability_titles(predict_logits(model, images).softmax(1), t.tolist())
            maps[name] = {m: A.attribute(model, x, t, m, bf16=bf16, **opts) for m in methods}
    return Attributions(images, x, t, maps, titles)


@dataclass
class Precision:
    """What the chapter's maps were computed in, and how alike float32 maps of the picked faces rank the
    pixels: the lowest mean Spearman rho over models and methods (1.0 where the maps were float32)."""

    name: str  # "bfloat16" or "float32"
    rho: float
    faces: int


def full_precision_agreement(
    models: dict[str, nn.Module],
    data: FerData,
    pick: np.ndarray,
    att: Attributions,
    *,
    methods: Sequence[str] = tuple(A.METHODS),
    seed: int = 0,
    **opts: Any,
) -> Precision:
    """Whether ``att`` was computed under bf16 (it is where it pays: ``fer_lib.device.bf16_pays``) and, if
    so, the same maps again in float32, with the same noise, compared face by face."""
    device = next(next(iter(models.values())).parameters()).device
    if not bf16_pays(device):
        return Precision("float32", 1.0, len(pick))
    exact = attribution_maps(models, data, pick, methods=methods, seed=seed, bf16=False, **opts)
    rho = min(
        float(A.spearman(a.abs().flatten(1), exact.maps[name][m].abs().flatten(1)).mean())
        for name, by_method in att.maps.items()
        for m, a in by_method.items()
    )
    return Precision("bfloat16", rho, len(pick))


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
    bf16: bool | None = None,
    **opts: Any,
) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """The cascading randomisation test on the first ``n_faces`` PrivateTest faces, per model (``bf16``: as
    in ``attribution_maps``, for the trained and the randomised maps alike)."""
    test = data.split("PrivateTest")
    x, t = to_float_images(test.images[:n_faces]), torch.as_tensor(test.labels[:n_faces])
    with seeded_noise(seed):
        return {
            name: A.randomization_test(model, x, t, methods, seed=seed, bf16=bf16, **opts)
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
    order first, then each method's (``bf16``: None where it pays, for the maps and the curves, see
    ``fer_lib.attribution``)."""
    test = data.split("PrivateTest")
    x, t = to_float_images(test.images[:n_faces]), torch.as_tensor(test.labels[:n_faces])
    curves = {}
    with seeded_noise(seed):
        for name, model in models.items():
            curves[name] = {"random": A.deletion_insertion(model, x, t, None, seed=seed, bf16=bf16)}
            for m in methods:
                maps = A.attribute(model, x, t, m, bf16=bf16, **opts)
                curves[name][m] = A.deletion_insertion(model, x, t, maps, bf16=bf16)
    return curves


def curves_figure(curves: dict[str, dict[str, dict[str, np.ndarray]]], model: str) -> plt.Figure:
    """One model's mean true-class probability as pixels are deleted and inserted, per method."""
    return figures.deletion_insertion_plot(curves[model], model)


def _signed(v: float, places: int = 2) -> str:
    """A signed number with a true minus sign, as the tables print it."""
    return f"{v:+.{places}f}".replace("-", "−")


def regions_markdown(regions: pd.DataFrame) -> Markdown:
    """The region table as Markdown to paste in a numbered ``{table}``: per method and model, the share
    of attribution in each band and the rank correlation with brightness."""
    frame = pd.DataFrame(
        {
            "model": [model for model, _ in regions.index],
            **{band: [f"{v:.2f}" for v in regions[band]] for band in REGIONS},
            "brightness ρ": [_signed(v) for v in regions["brightness rho"]],
        },
        index=pd.Index([m for _, m in regions.index], name="method"),
    )
    return Markdown(pipe_table(frame))


def randomisation_markdown(table: pd.DataFrame, models: Sequence[str] = MODELS) -> Markdown:
    """The randomisation table as Markdown: per method, each model's rank correlation once its output
    layer is random and once every layer is, and whether the method passes on every model."""
    methods = list(dict.fromkeys(m for _, m in table.index))
    columns: dict[str, list[str]] = {}
    for model in models:
        part = table.loc[model]
        columns[f"{model}: output layer random"] = [
            _signed(part.loc[m, "rho after the top layer"]) for m in methods
        ]
        columns[f"{model}: every layer random"] = [
            _signed(part.loc[m, "rho fully randomised"]) for m in methods
        ]
    passes = [all(bool(table.loc[(model, m), "passes"]) for model in models) for m in methods]
    frame = pd.DataFrame({**columns, "passes on both": passes}, index=pd.Index(methods, name="method"))
    return Markdown(pipe_table(frame))


def _against_random(row: pd.Series, kind: str) -> str:
    """One cell of an AUC table: the paired difference from random, its 95% interval, and 'tie' where the
    interval holds zero."""
    low, high = _signed(row[f"{kind} low"], 3), _signed(row[f"{kind} high"], 3)
    text = f"{_signed(row[f'{kind} vs random'], 3)} [{low}, {high}]"
    return text + (", tie" if row[kind] == "tie" else ", worse" if row[kind] == "worse" else "")


def auc_markdown(aucs: pd.DataFrame, kind: str = "deletion", models: Sequence[str] = MODELS) -> Markdown:
    """One half of the AUC table (``kind``: 'deletion' or 'insertion') as Markdown: per method, each
    model's mean AUC and its difference from a random pixel order with the 95% interval."""
    methods = list(dict.fromkeys(m for _, m in aucs.index))
    columns: dict[str, list[str]] = {}
    for model in models:
        part = aucs.loc[model]
        columns[f"{model} AUC"] = [f"{part.loc[m, f'{kind} AUC']:.3f}" for m in methods]
        columns[f"{model} − random [95% interval]"] = [_against_random(part.loc[m], kind) for m in methods]
    return Markdown(pipe_table(pd.DataFrame(columns, index=pd.Index(methods, name="method"))))


# --------------------------------------------------------------------------- the chapter as written

CHAPTER = "q4_saliency"
RECOMMENDED_METHOD = "occlusion"  # the method the chapter tells a reader to look at for one face
NOT_TO_READ = ("integrated_gradients", "guided_backprop")  # maps that barely depend on the class layer
DROP_AT_ONCE = ("saliency", "gradcam", "guided_gradcam", "occlusion")  # below the line after the first step
WEAK = 0.2  # a rank correlation with brightness below this (in size) is "hardly follows brightness"
FOLLOWS = 0.3  # one above this "follows brightness"
ALIKE = 0.9  # float32 maps "rank the pixels nearly alike": a mean rank correlation this high or more
PRECISION_WORDS = {"bfloat16": "reduced (16-bit) precision", "float32": "full (32-bit) precision"}
ABBREVIATIONS = {
    "saliency": "sal",
    "input_x_gradient": "ixg",
    "integrated_gradients": "ig",
    "smoothgrad": "sg",
    "guided_backprop": "gbp",
    "gradcam": "gc",
    "guided_gradcam": "ggc",
    "occlusion": "occ",
}
SHORT = {"report_cnn": "rc", "simple_cnn": "sc"}


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two intervals share a point: two methods whose intervals do are called a tie."""
    return a[0] <= b[1] and b[0] <= a[1]


def best_or_tied(aucs: pd.DataFrame, model: str, kind: str, among: Sequence[str]) -> list[str]:
    """Of the methods ``among``, the best on one curve (the lowest deletion or highest insertion AUC) and
    every one whose interval against random overlaps the best one's."""
    part = aucs.loc[model].loc[list(among)]
    ranked = part[f"{kind} vs random"].sort_values(ascending=kind == "deletion")
    first = part.loc[ranked.index[0]]
    span = (first[f"{kind} low"], first[f"{kind} high"])
    return [
        m for m in ranked.index if overlaps(span, (part.loc[m, f"{kind} low"], part.loc[m, f"{kind} high"]))
    ]


def readable_methods(
    randomisation: pd.DataFrame, aucs: pd.DataFrame, models: Sequence[str] = MODELS
) -> list[str]:
    """The methods whose maps can be read as the model's on every model: they pass the randomisation test
    once only the output layer is random and once every layer is, and beat a random pixel order on both
    the deletion and the insertion curve."""
    methods = list(dict.fromkeys(m for _, m in randomisation.index))
    return [
        m
        for m in methods
        if all(
            randomisation.loc[(model, m), "passes"]
            and randomisation.loc[(model, m), "rho after the top layer"] <= RANDOMISATION_THRESHOLD
            and aucs.loc[(model, m), "deletion"] == "better"
            and aucs.loc[(model, m), "insertion"] == "better"
            for model in models
        )
    ]


def recommended_methods(
    randomisation: pd.DataFrame, aucs: pd.DataFrame, models: Sequence[str] = MODELS
) -> list[str]:
    """Of the readable methods, those best or tied with the best on both curves of every model."""
    readable = readable_methods(randomisation, aucs, models)
    return [
        m
        for m in readable
        if all(
            m in best_or_tied(aucs, model, kind, readable)
            for model in models
            for kind in ("deletion", "insertion")
        )
    ]


def _check_model(
    model: str, methods: list[str], regions: pd.DataFrame, randomisation: pd.DataFrame, aucs: pd.DataFrame
) -> None:
    """Hold the sentences the chapter says of each model, for ``model``."""
    r = randomisation.loc[model]
    failing = sorted(m for m in methods if not r.loc[m, "passes"])
    hold(
        failing == ["integrated_gradients"],
        CHAPTER,
        f"only integrated gradients fails on {model}",
        failing,
    )
    held = [m for m in NOT_TO_READ if r.loc[m, "rho after the top layer"] > RANDOMISATION_THRESHOLD]
    hold(
        held == list(NOT_TO_READ),
        CHAPTER,
        f"that {' and '.join(NOT_TO_READ)} keep rho above {RANDOMISATION_THRESHOLD} on {model} once its "
        "output layer is random",
        f"{dict(r['rho after the top layer'])}",
    )
    a = aucs.loc[model]
    ties = sorted((m, k) for m in methods for k in ("deletion", "insertion") if a.loc[m, k] != "better")
    expected = [("input_x_gradient", "deletion")] if model == "report_cnn" else []
    hold(
        ties == expected,
        CHAPTER,
        f"every method beats random on both curves of {model} but {expected or 'none'}, a tie",
        f"{ties}",
    )
    ins = a["insertion AUC"].sort_values(ascending=False)
    runner_up = a.loc[ins.index[1]]
    hold(
        ins.index[0] == RECOMMENDED_METHOD
        and overlaps(
            (a.loc[RECOMMENDED_METHOD, "insertion low"], a.loc[RECOMMENDED_METHOD, "insertion high"]),
            (runner_up["insertion low"], runner_up["insertion high"]),
        ),
        CHAPTER,
        f"that {RECOMMENDED_METHOD}'s insertion AUC on {model} is the highest, tied with the next",
        f"{ins.index[:2].tolist()}",
    )
    sal, ixg = regions.loc[(model, "saliency")], regions.loc[(model, "input_x_gradient")]
    hold(
        abs(sal["brightness rho"]) < WEAK
        and ixg["brightness rho"] > FOLLOWS
        and regions.loc[model, "brightness rho"].idxmax() == "input_x_gradient",
        CHAPTER,
        f"that on {model} saliency hardly follows brightness and input x gradient does, the most of all",
        f"saliency {sal['brightness rho']:+.2f}, input x gradient {ixg['brightness rho']:+.2f}",
    )


def check_claims(regions: pd.DataFrame, randomisation: pd.DataFrame, aucs: pd.DataFrame) -> None:
    """Hold the chapter's sentences to the three tables; raise ``ClaimFailed`` naming the first one that
    would be false."""
    methods = list(dict.fromkeys(m for _, m in randomisation.index))
    hold(len(methods) == len(A.METHODS), CHAPTER, f"that {len(A.METHODS)} methods are compared", len(methods))
    for model in MODELS:
        _check_model(model, methods, regions, randomisation, aucs)
    _check_across_models(methods, regions, randomisation, aucs)


def _check_across_models(
    methods: list[str], regions: pd.DataFrame, randomisation: pd.DataFrame, aucs: pd.DataFrame
) -> None:
    """Hold the sentences that compare the methods across both models."""
    drop = [
        m
        for m in methods
        if all(
            randomisation.loc[(model, m), "rho after the top layer"] <= RANDOMISATION_THRESHOLD
            for model in MODELS
        )
    ]
    hold(
        drop == list(DROP_AT_ONCE),
        CHAPTER,
        f"that {', '.join(DROP_AT_ONCE)} fall to {RANDOMISATION_THRESHOLD} or below on both models once "
        "the output layer is random, and no other method does",
        f"{drop}",
    )
    sc = aucs.loc["simple_cnn"]
    hold(
        sc["deletion AUC"].idxmin() == RECOMMENDED_METHOD == sc["insertion AUC"].idxmax(),
        CHAPTER,
        f"that {RECOMMENDED_METHOD} has simple_cnn's lowest deletion and highest insertion AUC",
        f"{sc['deletion AUC'].idxmin()} and {sc['insertion AUC'].idxmax()}",
    )
    readable = readable_methods(randomisation, aucs)
    hold(
        best_or_tied(aucs, "report_cnn", "insertion", readable) == [RECOMMENDED_METHOD]
        and "saliency" not in best_or_tied(aucs, "simple_cnn", "insertion", readable),
        CHAPTER,
        f"that Grad-CAM, guided Grad-CAM and saliency fall behind {RECOMMENDED_METHOD} on report_cnn's "
        "insertion curve, and saliency on simple_cnn's too",
        f"{best_or_tied(aucs, 'report_cnn', 'insertion', readable)} best or tied on report_cnn",
    )
    recommended = recommended_methods(randomisation, aucs)
    hold(
        recommended == [RECOMMENDED_METHOD],
        CHAPTER,
        f"that {RECOMMENDED_METHOD} is the one method both readable and best or tied on every curve",
        f"{recommended} (readable: {readable_methods(randomisation, aucs)})",
    )
    rc = aucs.loc["report_cnn"]
    top_two = list(rc["deletion AUC"].sort_values().index[:2])
    occ = (rc.loc[RECOMMENDED_METHOD, "deletion low"], rc.loc[RECOMMENDED_METHOD, "deletion high"])
    hold(
        set(top_two) == set(NOT_TO_READ)
        and overlaps(*((rc.loc[m, "deletion low"], rc.loc[m, "deletion high"]) for m in top_two))
        and not any(overlaps(occ, (rc.loc[m, "deletion low"], rc.loc[m, "deletion high"])) for m in top_two),
        CHAPTER,
        f"that on report_cnn's deletion curve {' and '.join(NOT_TO_READ)} do best, tied, and "
        f"{RECOMMENDED_METHOD} comes after them beyond the noise",
        f"{top_two} first",
    )
    sal = regions.loc[("report_cnn", "saliency")]
    height = (REGIONS["forehead"][1] - REGIONS["forehead"][0]) / 48
    hold(
        set(sal[list(REGIONS)].nlargest(2).index) == {"eyes", "mouth"} and sal["forehead"] < height,
        CHAPTER,
        "that report_cnn's saliency falls most on the eyes and mouth, and on the forehead less than its area",
        f"{dict(sal[list(REGIONS)])}",
    )


def chapter_values(
    regions: pd.DataFrame,
    randomisation: pd.DataFrame,
    aucs: pd.DataFrame,
    *,
    n_faces: int,
    n_random: int,
    n_eval: int,
    precision: Precision | None = None,
    checked: bool = True,
) -> dict[str, Any]:
    """The numbers the chapter's text reads, by glue name (``q4_<method>_<measure>_<model>``, e.g.
    ``q4_occ_rand_rc``), after ``check_claims`` has held its sentences to this run's tables (where
    ``checked``: the text is about FER2013, not about generated faces)."""
    precision = precision or Precision("float32", 1.0, n_faces)
    if checked:
        check_claims(regions, randomisation, aucs)
        hold(
            precision.rho >= ALIKE,
            CHAPTER,
            f"that full-precision maps rank the pixels nearly as this run's do (rho {ALIKE} or more)",
            f"{precision.rho:.3f}",
        )
    forehead = (REGIONS["forehead"][1] - REGIONS["forehead"][0]) / 48
    values: dict[str, Any] = {
        "q4_n_faces": str(n_faces),
        "q4_rand_n": str(n_random),
        "q4_eval_n": str(n_eval),
        "q4_threshold": f"{RANDOMISATION_THRESHOLD}",
        "q4_forehead_height": f"{forehead:.0%}",
        "q4_precision": PRECISION_WORDS[precision.name],
        "q4_fp32_rho": f"{math.floor(precision.rho * 100) / 100:.2f}",  # "or more": rounded down
        "q4_fp32_faces": str(precision.faces),
        "q4_finding": (
            f"Of eight attribution methods, {RECOMMENDED_METHOD.replace('_', ' ')} is the one to read for a "
            "single face: its maps depend on what the model learned and point at the pixels its prediction "
            "depends on. Integrated gradients ranks such pixels well but fails the randomisation test."
        ),
    }
    # every name the text reads is glued, also for a method or model a smoke run left out ("n/a")
    values |= {
        f"q4_{abbr}_{measure}_{SHORT[model]}": "n/a"
        for abbr in ABBREVIATIONS.values()
        for model in MODELS
        for measure in ("top", "rand", "del", "delvs", "ins", "insvs", "bright", *REGIONS)
    }
    for (model, method), row in randomisation.iterrows():
        key = f"q4_{ABBREVIATIONS.get(method, method)}_{{}}_{SHORT.get(model, model)}"
        values[key.format("top")] = _signed(row["rho after the top layer"])
        values[key.format("rand")] = _signed(row["rho fully randomised"])
    for (model, method), row in aucs.iterrows():
        key = f"q4_{ABBREVIATIONS.get(method, method)}_{{}}_{SHORT.get(model, model)}"
        for kind in ("deletion", "insertion"):
            short = kind[:3]
            values[key.format(short)] = f"{row[f'{kind} AUC']:.3f}"
            values[key.format(f"{short}vs")] = _against_random(row, kind)
    for (model, method), row in regions.iterrows():
        key = f"q4_{ABBREVIATIONS.get(method, method)}_{{}}_{SHORT.get(model, model)}"
        values[key.format("bright")] = _signed(row["brightness rho"])
        values |= {key.format(band): f"{row[band]:.0%}" for band in REGIONS}
    return values
