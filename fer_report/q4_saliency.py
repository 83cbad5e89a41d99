"""Q4: where the models look, whether their maps can be trusted, and a verdict on the original's reading.

The chapter computes maps and curves with ``fer_lib.attribution``; these functions turn them into
the tables and sentences the chapter shows, with an uncertainty wherever a comparison is made, so
that a difference within the noise is called a tie.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fer_lib.attribution import REGIONS, brightness_correlation, region_shares

RANDOMISATION_THRESHOLD = 0.5  # rank correlation with the trained model's maps after full randomisation


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
