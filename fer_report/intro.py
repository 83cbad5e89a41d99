"""The introduction: the data set's size, its splits and how unbalanced its classes are."""

from __future__ import annotations

from typing import Any

from fer_lib.data import FerData


def data_values(data: FerData) -> dict[str, str]:
    """The values the introduction's text reads, by glue name: the number of faces in all and in each
    split, happy's and disgust's shares of Training, and disgust's count there."""
    counts = data.counts()
    sizes = {split: sum(per_class.values()) for split, per_class in counts.items()}
    training = counts["Training"]
    values = {"n_total": f"{len(data):,}"}
    values |= {f"n_{split}": f"{n:,}" for split, n in sizes.items()}
    values["happy_share"] = f"{training['happy'] / sizes['Training']:.1%}"
    values["disgust_share"] = f"{training['disgust'] / sizes['Training']:.1%}"
    values["disgust_n"] = f"{training['disgust']:,}"
    from .claims import apply_to

    if apply_to(data):
        check_balance(counts)
    return values


def check_balance(counts: dict[str, dict[str, int]]) -> None:
    """The text and the figure's caption say that happy has the most faces and disgust the fewest, in
    every split."""
    from .claims import hold

    for split, per_class in counts.items():
        order = sorted(per_class, key=per_class.get)
        hold(
            order[-1] == "happy" and order[0] == "disgust",
            CHAPTER,
            f"that happy has the most {split} faces and disgust the fewest",
            f"{per_class}",
        )


# --------------------------------------------------------------------------- the headline numbers

CHAPTER = "intro"
MODELS = ("report_cnn", "simple_cnn", "fer_vgg_s", "fer_vgg")


def recipes_recorded(name: str) -> int:
    """How many recipes of ``name`` are on record: its shipped one and every recorded experiment of it
    that is not a replay of the shipped recipe (a replay measures a recipe, it does not compete with it)."""
    from fer_lib.pretrained import experiments, pretrained_info

    from .records import replays

    card = pretrained_info(name)
    records = experiments(name)
    others = [r for r in records if r not in (replays(records, [card]) if card else [])]
    return len(others) + (1 if card else 0)


def _mean_sd(summary: dict, key: str) -> tuple[float, float] | None:
    entry = (summary or {}).get(key) or {}
    return (entry["mean"], entry["sd"]) if entry.get("sd") is not None else None


def headline(
    data: FerData, names: tuple[str, ...] = MODELS, device: str = "cpu"
) -> dict[str, dict[str, Any]]:
    """Per shipped model: recipes recorded, seeds and seed means ± sd (from its card: those runs' weights
    do not ship), and the shipped model's PublicTest and PrivateTest accuracies (plain and ten-crop) with
    their 95% intervals, and both again without the PrivateTest faces copied from Training, computed from
    its weights on ``data`` on ``device`` (``fer_report.measured``: in a report run with the shipped models
    the results chapter reads the same measurement)."""
    from fer_lib.pretrained import load_model, pretrained_info

    from .measured import measured
    from .results import accuracy_interval, stored_accuracy

    labels = data.split("PrivateTest").labels
    fresh = ~data.copied_from("PrivateTest")
    out = {}
    for name in names:
        card = pretrained_info(name)
        if card is None:
            continue
        got = measured(load_model(name)[0], data, device)
        m, preds = got["metrics"], got["predictions"]
        s = card.get("seed_summary") or {}
        out[name] = {
            "recipes": recipes_recorded(name),
            "seeds": int(card.get("seeds", 1)),
            "seed_public": _mean_sd(s, "PublicTest"),
            "seed_private": _mean_sd(s, "PrivateTest"),
            "seed_tencrop": _mean_sd(s, "PrivateTest ten-crop"),
            "public": m["PublicTest"]["accuracy"],
            "public_interval": accuracy_interval(m["PublicTest"]["accuracy"], m["PublicTest"]["n"]),
            "private": m["PrivateTest"]["accuracy"],
            "private_interval": accuracy_interval(m["PrivateTest"]["accuracy"], m["PrivateTest"]["n"]),
            "tencrop": m["PrivateTest"]["accuracy_tencrop"],
            "tencrop_interval": accuracy_interval(
                m["PrivateTest"]["accuracy_tencrop"], m["PrivateTest"]["n"]
            ),
            "n": m["PublicTest"]["n"],
            "fresh": stored_accuracy(preds["PrivateTest none"], labels, fresh),
            "fresh_tencrop": stored_accuracy(preds["PrivateTest tencrop"], labels, fresh),
            "copies": int((~fresh).sum()),
        }
    return out


def headline_table(numbers: dict[str, dict[str, Any]]) -> Any:
    """``headline`` as Markdown to paste in a numbered ``{table}``: one column per model, one row per
    number, the seed means first."""
    import pandas as pd
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    def ms(v: tuple[float, float] | None) -> str:
        return f"{v[0]:.4f} ± {v[1]:.4f}" if v else ""

    def acc(v: float | None, interval: tuple[float, float] | None = None) -> str:
        if v is None:
            return ""
        return f"{v:.4f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")

    rows = {
        "recipes recorded": {n: str(v["recipes"]) for n, v in numbers.items()},
        "seeds": {n: str(v["seeds"]) for n, v in numbers.items()},
        "seed mean ± sd: PublicTest": {n: ms(v["seed_public"]) for n, v in numbers.items()},
        "seed mean ± sd: PrivateTest": {n: ms(v["seed_private"]) for n, v in numbers.items()},
        "seed mean ± sd: PrivateTest, ten-crop": {n: ms(v["seed_tencrop"]) for n, v in numbers.items()},
        "shipped: PublicTest (95% interval)": {
            n: acc(v["public"], v["public_interval"]) for n, v in numbers.items()
        },
        "shipped: PrivateTest (95% interval)": {
            n: acc(v["private"], v["private_interval"]) for n, v in numbers.items()
        },
        "shipped: PrivateTest, ten-crop (95% interval)": {
            n: acc(v["tencrop"], v["tencrop_interval"]) for n, v in numbers.items()
        },
        "shipped: PrivateTest, no copies": {n: acc(v["fresh"]) for n, v in numbers.items()},
        "shipped: PrivateTest, ten-crop, no copies": {n: acc(v["fresh_tencrop"]) for n, v in numbers.items()},
    }
    return Markdown(pipe_table(pd.DataFrame(rows).T.rename_axis("")))


def margin_faces(accuracy: float, target: float, n: int) -> float:
    """How many of ``n`` faces separate an accuracy from a target: (accuracy − target) × n."""
    return (accuracy - target) * n


def is_tie(accuracy: float, interval: tuple[float, float], target: float) -> bool:
    """Whether a target lies inside an accuracy's 95% interval: a difference the test set cannot tell."""
    return interval[0] <= target <= interval[1]


def check_claims(
    numbers: dict[str, dict[str, Any]], chapter: str = CHAPTER, original: str = "the original's val_acc"
) -> None:
    """What the introduction says about the headline numbers, held to them: report_cnn's shipped PublicTest
    accuracy is over the original's 0.6510 by less than one face, a tie, while its seed mean falls short;
    simple_cnn's is over it and also a tie, its seed mean over it too; fer_vgg's ten-crop PrivateTest
    accuracy is over Khaireddin & Chen's 0.7328, a tie, while its seed mean falls short; only report_cnn
    has more than one recorded recipe. The results chapter opens with the same sentences (``chapter``, and
    ``original``: how its text names the original's 0.6510)."""
    from .anchors import HONEST_MARK, ORIGINAL_FINAL
    from .claims import hold

    target = ORIGINAL_FINAL["val_acc"]
    rc, sc, vgg = numbers["report_cnn"], numbers["simple_cnn"], numbers["fer_vgg"]
    margin = margin_faces(rc["public"], target, rc["n"])
    hold(
        0 <= margin < 1,
        chapter,
        f"that report_cnn is over {original} by less than one face",
        f"{margin:.1f} faces",
    )
    for name, v in (("report_cnn", rc), ("simple_cnn", sc)):
        hold(
            v["public"] >= target and is_tie(v["public"], v["public_interval"], target),
            chapter,
            f"that {name}'s PublicTest accuracy is over 0.6510 and ties with it",
            f"{v['public']:.4f}",
        )
    hold(
        rc["seed_public"][0] < target,
        chapter,
        "that report_cnn's seed mean falls short of 0.6510",
        f"{rc['seed_public'][0]:.4f}",
    )
    hold(
        sc["seed_public"][0] >= target,
        chapter,
        "that simple_cnn's seed mean is over 0.6510",
        f"{sc['seed_public'][0]:.4f}",
    )
    hold(
        vgg["tencrop"] > HONEST_MARK and is_tie(vgg["tencrop"], vgg["tencrop_interval"], HONEST_MARK),
        chapter,
        "that fer_vgg's ten-crop PrivateTest accuracy is over 0.7328 and ties with it",
        f"{vgg['tencrop']:.4f}",
    )
    hold(
        vgg["seed_tencrop"][0] < HONEST_MARK,
        chapter,
        "that fer_vgg's seed mean falls short of 0.7328",
        f"{vgg['seed_tencrop'][0]:.4f}",
    )
    others = {n: v["recipes"] for n, v in numbers.items() if n != "report_cnn"}
    hold(
        rc["recipes"] > 1 and set(others.values()) == {1},
        chapter,
        "that only report_cnn has more than one recorded recipe",
        f"{others}",
    )


def headline_values(data: FerData, device: str = "cpu") -> dict[str, Any]:
    """The introduction's headline values by glue name, after ``check_claims`` where the data is the one
    the cards were measured on; and the headline table."""
    from .anchors import HONEST_MARK, ORIGINAL_FINAL
    from .claims import apply_to

    numbers = headline(data, device=device)
    if apply_to(data):
        check_claims(numbers)
    rc, sc, vgg = numbers["report_cnn"], numbers["simple_cnn"], numbers["fer_vgg"]
    target = ORIGINAL_FINAL["val_acc"]
    values = {
        "intro_headline": headline_table(numbers),
        "rc_recipes": str(rc["recipes"]),
        "rc_public": f"{rc['public']:.4f}",
        "rc_public_faces": f"{round(rc['public'] * rc['n']):,}",
        "rc_target_faces": f"{target * rc['n']:,.1f}",
        "rc_margin": f"{margin_faces(rc['public'], target, rc['n']):.1f}",
        "rc_public_lo": f"{rc['public_interval'][0]:.3f}",
        "rc_public_hi": f"{rc['public_interval'][1]:.3f}",
        "rc_seed_public": f"{rc['seed_public'][0]:.4f} ± {rc['seed_public'][1]:.4f}",
        "rc_seeds": str(rc["seeds"]),
        "sc_public": f"{sc['public']:.4f}",
        "sc_margin": f"{margin_faces(sc['public'], target, sc['n']):.0f}",
        "sc_seed_public": f"{sc['seed_public'][0]:.4f} ± {sc['seed_public'][1]:.4f}",
        "vgg_tencrop": f"{vgg['tencrop']:.4f}",
        "vgg_lo": f"{vgg['tencrop_interval'][0]:.3f}",
        "vgg_hi": f"{vgg['tencrop_interval'][1]:.3f}",
        "vgg_over": f"{vgg['tencrop'] - HONEST_MARK:+.4f}",
        "vgg_seed_tencrop": f"{vgg['seed_tencrop'][0]:.4f} ± {vgg['seed_tencrop'][1]:.4f}",
        "vgg_seeds": str(vgg["seeds"]),
        "copies": f"{rc['copies']:,}",
        "rc_n": f"{rc['n']:,}",
        "vgg_fresh_tencrop": "" if vgg["fresh_tencrop"] is None else f"{vgg['fresh_tencrop']:.4f}",
    }
    return values
