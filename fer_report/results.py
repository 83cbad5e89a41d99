"""The results chapter: our models' accuracies, the targets, seed spreads, the hold-out study, the comparison
with published numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fer_lib.data import FerData
from fer_lib.errors import ConfigError

from .anchors import ANCHORS, HONEST_MARK, ORIGINAL_FINAL, REPRODUCED
from .sources import model_record


def results_table(
    models: list[str],
    data: FerData,
    run_dir: str | Path = "runs",
    use_pretrained: bool = False,
    device: str = "cpu",
) -> Any:
    """One row per model: where it came from, its epochs, and accuracy on both test splits with and without
    TTA.

    A model with neither a run folder nor shipped weights gets a row that says so.
    """
    import pandas as pd

    from fer_report.measured import measured

    rows, spreads, recomputed, teachers = [], {}, {}, {}
    for name in models:
        try:
            net, source, meta = model_record(name, run_dir, use_pretrained)
        except ConfigError:
            rows.append({"model": name, "source": "not trained yet"})
            continue
        hist = meta.get("history") or []
        best = max(hist, key=lambda h: h.get("val_acc", -1)) if hist else {}
        m = measured(net, data, device)["metrics"]
        card = meta.get("card") or {}
        if card.get("seed_summary"):
            spreads[name] = card["seed_summary"]
        if (card.get("batchnorm") or {}).get("kept"):
            recomputed[name] = card["batchnorm"]
        cfg = meta.get("config") or {}
        if cfg.get("teacher"):
            teachers[name] = {k: cfg.get(k) for k in ("teacher", "distill", "distill_temp")}
        rows.append(
            {
                "model": name,
                "source": source,
                "trainable params": sum(p.numel() for p in net.parameters() if p.requires_grad),
                "seeds": card.get("seeds", 1),
                "epochs": len(hist),
                "best epoch": best.get("epoch"),
                "PublicTest": m["PublicTest"]["accuracy"],
                "PublicTest ten-crop": m["PublicTest"]["accuracy_tencrop"],
                "PrivateTest": m["PrivateTest"]["accuracy"],
                "PrivateTest flip": m["PrivateTest"]["accuracy_flip"],
                "PrivateTest ten-crop": m["PrivateTest"]["accuracy_tencrop"],
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    for col in ("trainable params", "seeds", "epochs", "best epoch"):
        if col in table:
            table[col] = table[col].astype("Int64")
    table.attrs["seed_summary"] = spreads  # per model with seed runs: mean, sd and range of each metric
    table.attrs["batchnorm"] = (
        recomputed  # per shipped model whose BatchNorm statistics were recomputed after export
    )
    table.attrs["teacher"] = (
        teachers  # per model trained with distillation: its teacher, weight and temperature
    )
    return table


def _seed_clause(summary: dict | None, n: int, key: str, target: float, *others: str) -> str:
    """' Over N seeds: key mean ± sd (gap of the mean to the target); other mean ± sd.' or '' without seed
    runs."""
    if not summary or key not in summary or summary[key]["sd"] is None:
        return ""
    parts = [
        f"{key} {summary[key]['mean']:.4f} ± {summary[key]['sd']:.4f} "
        f"(mean {summary[key]['mean'] - target:+.4f} from the target)"
    ]
    parts += [
        f"{k} {summary[k]['mean']:.4f} ± {summary[k]['sd']:.4f}"
        for k in others
        if k in summary and summary[k]["sd"] is not None
    ]
    return f" Over {n} seeds (mean ± sample sd): " + "; ".join(parts) + "."


def _batchnorm_clause(bn: dict | None, seeds: bool) -> str:
    """' Its BatchNorm statistics were recomputed after export (PublicTest a → b) ...' or ''."""
    if not bn:
        return ""
    return (
        " Its shipped BatchNorm statistics were recomputed on Training after the epoch was chosen "
        "(PublicTest "
        f"{bn['PublicTest before']['accuracy']:.4f} → {bn['PublicTest after']['accuracy']:.4f})"
        + ("; the seed runs are the weights as trained." if seeds else ".")
    )


def _teacher_clause(name: str, teacher: dict | None, folder: str | Path | None = None) -> str:
    """' Its recipe adds a teacher's soft targets ...; without one, the best recorded run reached ...' or ''.

    The original report trained with cross-entropy alone; a model distilled from a stronger one
    reaches its number by another route, and the reader should know how far the plain loss got.
    """
    if not teacher:
        return ""
    from fer_lib.pretrained import experiments

    text = (
        f" Its loss is not the original's alone: {teacher['distill']:g} × the soft targets of "
        f"`{teacher['teacher']}` "
        f"(temperature {teacher['distill_temp']:g}) beside the cross-entropy."
    )
    plain = [r for r in experiments(name, folder) if not (r.get("config") or {}).get("teacher")]
    if plain:
        best = max(plain, key=lambda r: r["best_PublicTest"])
        target = ORIGINAL_FINAL["val_acc"]
        text += (
            f" Without a teacher, the best of {len(plain)} recorded run{'s' if len(plain) > 1 else ''} of "
            f"{name} "
            f"(`{best['run']}`) reached PublicTest {best['best_PublicTest']:.4f} "
            f"({'reaching' if best['best_PublicTest'] >= target else 'short of'} {target:.4f}; the appendix "
            "lists them)."
        )
    return text


def describe_targets(table: Any, folder: str | Path | None = None) -> str:
    """Markdown: each target of the reference run against what the table measured, met or not, with the
    gap."""
    lines = []
    spreads = table.attrs.get("seed_summary") or {}
    recomputed = table.attrs.get("batchnorm") or {}
    teachers = table.attrs.get("teacher") or {}
    trained = table.dropna(subset=["PublicTest"]) if "PublicTest" in table else table.iloc[:0]
    for name in REPRODUCED:
        if name in trained.index:
            acc = float(trained.loc[name, "PublicTest"])
            verdict = "reaches" if acc >= ORIGINAL_FINAL["val_acc"] else "falls short of"
            lines.append(
                f"- **{name}**: PublicTest accuracy {acc:.4f} {verdict} the original report's val_acc "
                f"{ORIGINAL_FINAL['val_acc']:.4f} ({acc - ORIGINAL_FINAL['val_acc']:+.4f}); "
                f"PrivateTest {float(trained.loc[name, 'PrivateTest']):.4f}."
                + _seed_clause(
                    spreads.get(name),
                    int(trained.loc[name, "seeds"]),
                    "PublicTest",
                    ORIGINAL_FINAL["val_acc"],
                    "PrivateTest",
                )
                + _batchnorm_clause(recomputed.get(name), name in spreads)
                + _teacher_clause(name, teachers.get(name), folder)
            )
        else:
            lines.append(f"- **{name}**: not trained in this run.")
    strong = trained[~trained.index.isin(REPRODUCED)]
    if len(strong):
        top = (
            strong["PublicTest ten-crop"].astype(float).idxmax()
        )  # chosen on PublicTest, never on PrivateTest
        acc = float(strong.loc[top, "PrivateTest ten-crop"])
        verdict = "above" if acc > HONEST_MARK else "below"
        lines.append(
            f"- **strong model** (chosen on PublicTest ten-crop among {', '.join(strong.index)}): **{top}**, "
            f"PrivateTest {acc:.4f} with ten-crop TTA, {verdict} Khaireddin & Chen's {HONEST_MARK:.4f} "
            f"({acc - HONEST_MARK:+.4f})."
            + _seed_clause(
                spreads.get(top), int(trained.loc[top, "seeds"]), "PrivateTest ten-crop", HONEST_MARK
            )
            + _batchnorm_clause(recomputed.get(top), top in spreads)
        )
    else:
        lines.append("- **strong model**: none trained in this run.")
    seeds = {n: int(k) for n, k in trained["seeds"].dropna().items()} if "seeds" in trained else {}
    single = [str(n) for n, k in seeds.items() if k == 1]
    if len(single) == len(trained) and len(single):
        lines.append(
            "\nEvery number above rests on a single seed (one training run per model), so no spread can be "
            "given."
        )
    elif single:
        lines.append(
            f"\n{single[0]} rests on a single seed (one training run), so no spread can be given for it."
            if len(single) == 1
            else f"\n{', '.join(single)}: a single seed each, so no spread can be given for them."
        )
    return "\n".join(lines)


def describe_seeds(card: dict) -> str:
    """Markdown: a shipped model's accuracy over its seed runs (mean ± sd, range) and which run ships."""
    runs, summary = card.get("seed_runs"), card.get("seed_summary")
    if not runs or not summary:
        return ""
    parts = []
    for k, v in summary.items():
        sd = f" ± {v['sd']:.4f}" if v["sd"] is not None else ""
        parts.append(f"{k} {v['mean']:.4f}{sd} (range {v['min']:.4f}–{v['max']:.4f})")
    shipped = next(r for r in runs if r["shipped"])
    text = (
        f"Over {len(runs)} seeds (seeds {', '.join(str(r['seed']) for r in runs)}; mean ± sample sd): "
        + "; ".join(parts)
        + f". The shipped weights are seed {shipped['seed']}'s, the run with the best PublicTest accuracy."
    )
    return text


def describe_batchnorm(card: dict) -> str:
    """Markdown: where a shipped model's BatchNorm statistics were recomputed (or tried) after export, what
    PublicTest said."""
    bn = card.get("batchnorm") or {}
    if not bn:
        return ""
    b, a = bn["PublicTest before"], bn["PublicTest after"]
    sample = (card.get("config") or {}).get("bn_recompute")
    # what the new statistics replace: a run trained with bn_recompute saved its sample's statistics with
    # each best.pt
    trained = (
        f"the statistics of the {sample:,} Training images its epochs were validated with"
        if sample
        else "the trainer's running averages"
    )
    if not bn["kept"]:
        return (
            f"After its epoch was chosen, new BatchNorm statistics ({bn['statistics']}) were tried in place "
            "of "
            f"{trained}: PublicTest {b['accuracy']:.4f} → {a['accuracy']:.4f}, so they were not kept and "
            "the shipped weights are as trained."
        )
    return (
        "After its epoch was chosen, the BatchNorm statistics of the shipped weights were "
        f"{bn['statistics']}, in place "
        f"of {trained}{'' if sample else ' (the last few dozen batches, gathered with dropout on)'}: "
        "PublicTest "
        f"{b['accuracy']:.4f} → {a['accuracy']:.4f} ({b['accuracy_tencrop']:.4f} → "
        f"{a['accuracy_tencrop']:.4f} with "
        "ten-crop), kept because PublicTest rose."
        + (" Seed-run numbers are those of the weights as trained." if card.get("seed_runs") else "")
    )


def comparison_table(ours: Any) -> Any:
    """The anchors and our measured models in one table, each row with its protocol."""
    import pandas as pd

    rows = list(ANCHORS)
    recomputed = ours.attrs.get("batchnorm") or {}
    teachers = ours.attrs.get("teacher") or {}
    for name, r in ours.dropna(subset=["PublicTest"]).iterrows():
        kd = f"distilled from {teachers[name]['teacher']}; " if name in teachers else ""
        bn = (
            "BatchNorm statistics recomputed on Training afterwards, kept because PublicTest rose "
            f"({recomputed[name]['PublicTest before']['accuracy']:.4f} → "
            f"{recomputed[name]['PublicTest after']['accuracy']:.4f}); "
            if name in recomputed
            else ""
        )
        rows.append(
            {
                "source": f"this report: {name}",
                "PublicTest": r["PublicTest"],
                "PrivateTest": r["PrivateTest"],
                "PrivateTest (TTA)": r["PrivateTest ten-crop"],
                "protocol": (
                    f"trained on Training; {kd}checkpoint chosen on PublicTest (epoch {r['best epoch']} of "
                    f"{r['epochs']}); "
                    + bn
                    + "PrivateTest measured once, plain and ten-crop; "
                    + (
                        f"the shipped one of {r['seeds']} seeds, the best on PublicTest"
                        if r["seeds"] > 1
                        else "one seed"
                    )
                ),
            }
        )
    return pd.DataFrame(rows).set_index("source")


# --------------------------------------------------------------------------- the answers, for the intro


def accuracy_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% (Wilson score) interval of an accuracy measured on ``n`` faces: how far another test set of
    the same size, drawn the same way, could put the same model."""
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def stored_accuracy(predictions: str, labels: np.ndarray, keep: np.ndarray | None = None) -> float:
    """The accuracy of a card's stored predictions (one digit a face), on the faces ``keep`` marks."""
    pred = np.frombuffer(predictions.encode(), dtype=np.uint8) - ord("0")
    if len(pred) != len(labels):
        raise ConfigError(f"{len(pred)} stored predictions for {len(labels)} faces.")
    keep = np.ones(len(labels), bool) if keep is None else np.asarray(keep, bool)
    return float((pred[keep] == labels[keep]).mean())


def _mean_sd(summary: dict | None, key: str) -> str:
    if not summary or key not in summary or summary[key]["sd"] is None:
        return ""
    return f"{summary[key]['mean']:.4f} ± {summary[key]['sd']:.4f}"


def display_table(table: Any) -> Any:
    """``results_table`` for the page: one column a model, accuracies to 4 decimals, counts with
    thousands separators, and the shipped weights named as such, so that it fits a page's column."""
    import pandas as pd

    def cell(col: str, v: Any) -> str:
        if v is None or (pd.api.types.is_scalar(v) and pd.isna(v)):
            return ""
        if col.startswith(("Public", "Private")):
            return f"{v:.4f}"
        if col == "source":
            return "shipped weights" if str(v).startswith("pretrained") else str(v)
        return f"{int(v):,}" if isinstance(v, (int, float, np.integer, np.floating)) else str(v)

    shown = pd.DataFrame({c: [cell(c, v) for v in table[c]] for c in table.columns}, index=table.index)
    return shown.T


def answers_table(
    data: FerData, names: tuple[str, ...] = ("report_cnn", "simple_cnn", "fer_vgg"), device: str = "cpu"
) -> Any:
    """The book's headline numbers, measured from the shipped weights on ``data`` (``fer_report.measured``:
    once per report run, shared with the results chapter); the seed summaries are the cards' records of
    runs whose weights are not shipped.

    One row per model, the original report first (its val_acc, on faces it does not name, in the
    PublicTest column): the seed mean ± sd of PrivateTest accuracy (plain and ten-crop) where the recipe
    was trained with several seeds, then the shipped model (the seed chosen on PublicTest): PublicTest,
    PrivateTest with its 95% interval, ten-crop, and ten-crop on the PrivateTest faces whose pixels do
    not also appear in Training ("no copies"). Two header rows: the group, then the column.
    """
    import pandas as pd

    from fer_lib.pretrained import load_model, pretrained_info
    from fer_report.measured import measured

    private = data.split("PrivateTest")
    labels = private.labels
    fresh = ~data.copied_from("PrivateTest")
    seeds, shipped = "seed mean ± sd", "shipped model (chosen on PublicTest)"
    rows = {
        "original report": {("", "seeds"): "1", (shipped, "PublicTest"): f"{ORIGINAL_FINAL['val_acc']:.4f}"}
    }
    for name in names:
        card = pretrained_info(name)
        if card is None:
            continue
        got = measured(load_model(name)[0], data, device)
        m, preds = got["metrics"], got["predictions"]
        acc = m["PrivateTest"]["accuracy"]
        lo, hi = accuracy_interval(acc, len(labels))
        summary = card.get("seed_summary")
        rows[name] = {
            ("", "seeds"): str(card.get("seeds", 1)),
            (seeds, "PrivateTest"): _mean_sd(summary, "PrivateTest"),
            (seeds, "ten-crop"): _mean_sd(summary, "PrivateTest ten-crop"),
            (shipped, "PublicTest"): f"{m['PublicTest']['accuracy']:.4f}",
            (shipped, "PrivateTest"): f"{acc:.4f}",
            (shipped, "95% interval"): f"{lo:.3f}–{hi:.3f}",
            (shipped, "ten-crop"): f"{m['PrivateTest']['accuracy_tencrop']:.4f}",
            (shipped, "ten-crop, no copies"): (
                f"{stored_accuracy(preds['PrivateTest tencrop'], labels, fresh):.4f}"
                if "PrivateTest tencrop" in preds
                else ""
            ),
        }
    columns = [("", "seeds"), (seeds, "PrivateTest"), (seeds, "ten-crop")]
    columns += [
        (shipped, c) for c in ("PublicTest", "PrivateTest", "95% interval", "ten-crop", "ten-crop, no copies")
    ]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=pd.MultiIndex.from_tuples(columns))
    table = table.fillna("")
    table.attrs["copies"] = int((~fresh).sum())
    table.attrs["n"] = len(labels)
    return table


def conclusion(table: Any, n: int, names: tuple[str, ...] = ("fer_vgg", "report_cnn")) -> str:
    """Two sentences that open the results chapter: the seed mean ± sd first (the card's record of the seed
    runs), then the model measured in ``table`` (``results_table``) on ``n`` PrivateTest faces."""
    from fer_lib.pretrained import pretrained_info

    parts = []
    for name in names:
        card = pretrained_info(name) or {}
        if (
            name not in table.index
            or "PrivateTest ten-crop" not in table
            or table["PrivateTest ten-crop"].isna()[name]
        ):
            continue
        acc, s = float(table.loc[name, "PrivateTest ten-crop"]), card.get("seed_summary") or {}
        m = {"accuracy_tencrop": acc, "n": n}
        lo, hi = accuracy_interval(acc, n)
        seeds = (
            f"over {card.get('seeds')} seeds its recipe reaches a PrivateTest ten-crop accuracy of "
            f"{s['PrivateTest ten-crop']['mean']:.4f} ± {s['PrivateTest ten-crop']['sd']:.4f} (mean ± sd), "
            "and "
            if s.get("PrivateTest ten-crop", {}).get("sd") is not None
            else ""
        )
        parts.append(
            f"for {name}, {seeds}the shipped model, the seed chosen on PublicTest, "
            f"{m['accuracy_tencrop']:.4f} "
            f"(95% interval {lo:.3f}–{hi:.3f} on {m['n']:,} faces)"
        )
    return (
        "; ".join(parts)[0].upper()
        + "; ".join(parts)[1:]
        + ". The published anchors below were measured on the same test set, which shares about 8% of its "
        + "faces with "
        "Training; every headline is also given without those faces."
    )


# --------------------------------------------------------------------------- what the chapter shows


def holdout_result(data: FerData, device: str = "cpu") -> dict[str, Any]:
    """The hold-out study measured on ``data``: ``table`` (styled) and ``text`` (Markdown), or, where it
    cannot be measured on this data, an empty table and a sentence that says why."""
    from IPython.display import Markdown

    from .holdout import describe_holdout, holdout_study, holdout_study_check

    problem = holdout_study_check(data)
    if problem:
        return {"table": Markdown(" "), "text": Markdown(f"*Not measured in this run: {problem}.*")}
    study, meta = holdout_study(data, device=device)
    return {
        "table": study.style.format({"accuracy": "{:.4f}", "exact copy among the training faces": "{:.1%}"}),
        "text": Markdown(describe_holdout(study, meta)),
    }


def trained_models(table: Any) -> list[str]:
    """The models of a ``results_table`` that were measured (a row that says 'not trained yet' is not)."""
    return [str(n) for n in table.dropna(subset=["PublicTest"]).index] if "PublicTest" in table else []


def describe_model_recipes(table: Any, run_dir: str | Path = "runs", use_pretrained: bool = False) -> str:
    """Markdown: one paragraph per measured model of ``table``: its recipe (the last phase's where it
    changed), its changes, its seed runs and its BatchNorm recompute, read back from its checkpoint."""
    from .records import describe_changes, describe_recipe

    paragraphs = []
    for name in trained_models(table):
        _, _, meta = model_record(name, run_dir, use_pretrained)
        card = meta.get("card") or {}
        lead = "last phase: " if meta.get("config_changes") else ""
        paragraphs.append(
            f"**{name}**: "
            + lead
            + describe_recipe(meta["config"], len(meta["history"]))
            + " "
            + describe_changes(meta.get("config_changes"))
            + " "
            + describe_seeds(card)
            + " "
            + describe_batchnorm(card)
        )
    return "\n\n".join(paragraphs)


def model_curves(table: Any, k: int, run_dir: str | Path = "runs", use_pretrained: bool = False) -> Any:
    """The training history of the ``k``-th measured model of ``table`` (from 0), with the original's final
    epoch beside the models that reproduce it; the training loss only where it is the cross-entropy."""
    from .q2_training import curves

    names = trained_models(table)
    if k >= len(names):
        raise ConfigError(
            f"the chapter shows the curves of model {k + 1}, but only {len(names)} model(s) were measured: "
            f"{', '.join(names) or 'none'}; add models to the parameter 'models'."
        )
    _, _, meta = model_record(names[k], run_dir, use_pretrained)
    reference = ORIGINAL_FINAL if names[k] in REPRODUCED else None
    return curves(meta["history"], meta["config"], names[k], reference)


def tried_recipes() -> int:
    """How many recorded experiments are not replays of a shipped recipe: the recipes PublicTest chose
    among."""
    from fer_lib.pretrained import experiments, pretrained_info, shipped_names

    from .records import replays

    shipped = [pretrained_info(m) for m in shipped_names()]
    records = experiments()
    return sum(r not in replays(records, shipped) for r in records)


def chapter_values(
    headline: Any, table: Any, holdout_text: Any, run_dir: str | Path = "runs", use_pretrained: bool = False
) -> dict[str, Any]:
    """The values the chapter's text reads, by glue name: the answer, the test set's size and copies, the
    number of recipes tried, the targets, the hold-out study's text and every model's recipe."""
    from IPython.display import Markdown

    answer = conclusion(table, headline.attrs["n"])
    return {
        "results_answer": Markdown(answer),
        "results_finding": answer,
        "results_copies": f"{headline.attrs['copies']:,}",
        "results_n": f"{headline.attrs['n']:,}",
        "results_recipes": str(tried_recipes()),
        "results_targets": Markdown(describe_targets(table)),
        "results_holdout": holdout_text,
        "results_recipes_text": Markdown(describe_model_recipes(table, run_dir, use_pretrained)),
    }


# --------------------------------------------------------------------------- the chapter as written

CHAPTER = "results"
SMALL_GAP = 0.02  # a training accuracy this close to the validation's: the model hardly fits its own faces
WIDE_GAP = 0.2  # and this far above it: the model has learned many of its training faces by heart
COPY_DROP = (
    0.01,
    0.025,
)  # what the text says leaving out the copied faces costs: one to two and a half points


def headline_numbers(data: FerData) -> dict[str, dict[str, Any]]:
    """``intro.headline`` (each shipped model's card: recipes, seeds, seed means, shipped accuracies with
    95% intervals, PrivateTest without the copied faces) and PublicTest without its copied faces too."""
    from fer_lib.pretrained import pretrained_info

    from .intro import headline

    numbers = headline(data)
    labels = data.split("PublicTest").labels
    fresh = ~data.copied_from("PublicTest")
    for name, v in numbers.items():
        card = pretrained_info(name) or {}
        same = card.get("data_hash") == data.data_hash()
        v["public_fresh"] = (
            stored_accuracy(card["predictions"]["PublicTest none"], labels, fresh) if same else None
        )
        v["public_copies"] = int((~fresh).sum())
    return numbers


def fit_facts(history: list[dict], planned: int | None = None) -> dict[str, Any]:
    """What a run's history says about fitting at its chosen epoch (the best PublicTest accuracy): the
    training accuracy (on augmented faces, dropout on, as logged during the epoch) against PublicTest's,
    their gap, and how far the validation loss rose after its lowest epoch."""
    best = max(history, key=lambda h: h["val_acc"])
    low = min(history, key=lambda h: h["val_loss"])
    return {
        "epochs": len(history),
        "planned": planned or len(history),
        "best_epoch": best["epoch"],
        "train_acc": best["acc"],
        "val_acc": best["val_acc"],
        "gap": best["acc"] - best["val_acc"],
        "low_epoch": low["epoch"],
        "rise": history[-1]["val_loss"] / low["val_loss"] - 1,
    }


def model_fits(
    names: list[str], run_dir: str | Path = "runs", use_pretrained: bool = False
) -> dict[str, dict[str, Any]]:
    """``fit_facts`` of each model's history (its run folder's, else its card's), by name."""
    out = {}
    for name in names:
        _, _, meta = model_record(name, run_dir, use_pretrained)
        config, card = meta.get("config") or {}, meta.get("card") or {}
        out[name] = fit_facts(meta["history"], config.get("epochs")) | {
            "teacher": config.get("teacher"),
            "phases": len(meta.get("config_changes") or []),
            "bn_kept": bool((card.get("batchnorm") or {}).get("kept")),
        }
    return out


def _md(frame: Any, index: str = "") -> Any:
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    return Markdown(pipe_table(frame, index))


def fit_table(fits: dict[str, dict[str, Any]]) -> Any:
    """Per model, as Markdown for a numbered ``{table}``: the chosen epoch, training and PublicTest accuracy
    there, their gap, and the validation loss's rise after its lowest epoch."""
    import pandas as pd

    rows = {
        name: {
            "chosen epoch": f"{f['best_epoch']} of {f['epochs']}",
            "training accuracy": f"{f['train_acc']:.4f}",
            "PublicTest accuracy": f"{f['val_acc']:.4f}",
            "gap": f"{f['gap']:.4f}",
            "validation loss after its lowest": f"{f['rise']:+.1%} (lowest at epoch {f['low_epoch']})",
        }
        for name, f in fits.items()
    }
    return _md(pd.DataFrame(rows).T, "model")


def _phases(changes: list[dict] | None) -> str:
    """A resumed run's phases in a few words: 'from epoch 31: lr 0.05 → 0.003, ...'."""
    return "; ".join(
        f"from epoch {c['from_epoch']}: "
        + ", ".join(f"{k} {a} → {b}" for k, (a, b) in sorted(c["changed"].items()))
        for c in changes or []
    )


def recipe_cells(config: dict, epochs_run: int, changes: list[dict] | None = None) -> dict[str, str]:
    """One model's recipe as the rows of the recipe table: optimizer and schedule, batch and epochs,
    regularisation, augmentation, teacher, BatchNorm statistics and the phases of a resumed run."""
    from .records import describe_recipe

    words = describe_recipe(config).rstrip(".")
    aug, *extra = words.partition("; augmentation: ")[2].split("; ")
    c = config
    schedule = {
        "constant": f"constant {c['lr']:g}",
        "onecycle": f"one-cycle, peak {c['lr']:g}",
        "cosine": f"cosine from {c['lr']:g}",
        "plateau": f"{c['lr']:g}, halved on plateaus",
    }[c["schedule"]]
    optimizer = {"sgd": "SGD (Nesterov)" if c.get("nesterov", True) else "SGD", "adamw": "AdamW"}.get(
        c["optimizer"], "Adam"
    )
    planned = c["epochs"]
    return {
        "optimizer, learning rate": f"{optimizer}, {schedule}",
        "batch, epochs": f"{c['batch_size']}, "
        + (f"{epochs_run} of {planned} planned" if epochs_run < planned else str(epochs_run)),
        "regularisation": ", ".join(
            t
            for on, t in (
                (c.get("weight_decay"), f"weight decay {c.get('weight_decay'):g}"),
                (c.get("label_smoothing"), f"label smoothing {c.get('label_smoothing'):g}"),
            )
            if on
        )
        or "none",
        "augmentation": aug,
        "teacher (distillation)": (
            f"{c['teacher']} (weight {c['distill']:g}, temperature {c['distill_temp']:g})"
            if c.get("teacher")
            else "none"
        ),
        "other": "; ".join(e for e in extra if not e.startswith("distilled from")) or "none",
        "phases": _phases(changes) or "one",
    }


def recipe_table(names: list[str], run_dir: str | Path = "runs", use_pretrained: bool = False) -> Any:
    """Each model's recipe (the last phase's where a run was resumed), one column a model, as Markdown for a
    numbered ``{table}``."""
    import pandas as pd

    columns = {}
    for name in names:
        _, _, meta = model_record(name, run_dir, use_pretrained)
        columns[name] = recipe_cells(meta["config"], len(meta["history"]), meta.get("config_changes"))
    return _md(pd.DataFrame(columns), "")


def measured_table(table: Any) -> Any:
    """``results_table`` as Markdown for a numbered ``{table}``: one column a model (``display_table``)."""
    shown = display_table(table).drop(index=["source"], errors="ignore")
    return _md(shown, "")


def headline_table(numbers: dict[str, dict[str, Any]]) -> Any:
    """The headline numbers, one column a model, as Markdown for a numbered ``{table}``: recipes and seeds,
    the seed means ± sd, the shipped model's accuracies with 95% intervals, then without the copied faces."""
    import pandas as pd

    def ms(v: tuple[float, float] | None) -> str:
        return f"{v[0]:.4f} ± {v[1]:.4f}" if v else ""

    def acc(v: float | None, interval: tuple[float, float] | None = None) -> str:
        if v is None:
            return ""
        return f"{v:.4f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")

    def row(f: Any) -> dict[str, str]:
        return {n: f(v) for n, v in numbers.items()}

    rows = {
        "recipes recorded": row(lambda v: str(v["recipes"])),
        "seeds": row(lambda v: str(v["seeds"])),
        "seed mean: PublicTest": row(lambda v: ms(v["seed_public"])),
        "seed mean: PrivateTest": row(lambda v: ms(v["seed_private"])),
        "seed mean: PrivateTest, ten-crop": row(lambda v: ms(v["seed_tencrop"])),
        "shipped: PublicTest": row(lambda v: acc(v["public"], v["public_interval"])),
        "shipped: PrivateTest": row(lambda v: acc(v["private"], v["private_interval"])),
        "shipped: PrivateTest, ten-crop": row(lambda v: acc(v["tencrop"], v["tencrop_interval"])),
        "no copies: PublicTest": row(lambda v: acc(v.get("public_fresh"))),
        "no copies: PrivateTest": row(lambda v: acc(v["fresh"])),
        "no copies: PrivateTest, ten-crop": row(lambda v: acc(v["fresh_tencrop"])),
    }
    return _md(pd.DataFrame(rows).T, "")


def published_table(numbers: dict[str, dict[str, Any]]) -> Any:
    """The published numbers and our shipped models in one table, as Markdown for a numbered ``{table}``:
    a short name, the three accuracies and the split that chose the checkpoint."""
    import pandas as pd

    from .anchors import SHORT

    def f(v: float | None) -> str:
        return "" if v is None else f"{v:.4f}"

    rows = {}
    for a in ANCHORS:
        short, chosen = SHORT[a["source"]]
        rows[short] = [f(a["PublicTest"]), f(a["PrivateTest"]), f(a["PrivateTest (TTA)"]), chosen]
    for name, v in numbers.items():
        rows[f"ours: {name}"] = [f(v["public"]), f(v["private"]), f(v["tencrop"]), "PublicTest"]
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["PublicTest", "PrivateTest", "PrivateTest, TTA", "chosen on"]
    )
    return _md(frame, "source")


def curves_of(name: str, run_dir: str | Path = "runs", use_pretrained: bool = False) -> Any:
    """The training history of model ``name`` (its run folder's, else its card's), the training loss only
    where it is the cross-entropy."""
    from .q2_training import curves

    _, _, meta = model_record(name, run_dir, use_pretrained)
    return curves(meta["history"], meta["config"], name, ORIGINAL_FINAL if name in REPRODUCED else None)


# --------------------------------------------------------------------------- the claims the text makes


def check_headlines(numbers: dict[str, dict[str, Any]]) -> None:
    """What the opening says about the headline numbers, held to them: report_cnn over 0.6510 by less than
    one face, a tie, its seed mean short; simple_cnn over it, a tie, its seed mean over; fer_vgg's ten-crop
    over 0.7328, a tie, its seed mean short, and a tie with both repositories; fer_vgg's plain PrivateTest a
    tie with the challenge winner; fer_vgg_s's ten-crop a tie with 0.7328; only report_cnn has more than one
    recipe; leaving out the copied faces costs every model one to two and a half points."""
    from .intro import check_claims as check_targets

    check_targets(numbers, CHAPTER, "0.6510")  # the introduction says the same of the targets
    _check_beside_published(numbers)


def _check_beside_published(numbers: dict[str, dict[str, Any]]) -> None:
    """Ties with the published numbers, ten-crop and the copied faces (``check_headlines``)."""
    from .anchors import ANCHORS as A
    from .claims import hold
    from .intro import is_tie

    rc, vgg, small = (numbers[n] for n in ("report_cnn", "fer_vgg", "fer_vgg_s"))
    for a in A[4:]:
        mark = a["PrivateTest (TTA)"]
        hold(
            is_tie(vgg["tencrop"], vgg["tencrop_interval"], mark),
            CHAPTER,
            f"that fer_vgg's ten-crop accuracy ties with {a['source']}'s {mark}",
            f"{vgg['tencrop']:.4f} ({vgg['tencrop_interval'][0]:.3f}–{vgg['tencrop_interval'][1]:.3f})",
        )
    winner = A[2]["PrivateTest"]
    hold(
        vgg["private"] > winner and is_tie(vgg["private"], vgg["private_interval"], winner),
        CHAPTER,
        f"that fer_vgg's plain PrivateTest accuracy is over the challenge winner's {winner} and ties with it",
        f"{vgg['private']:.4f}",
    )
    hold(
        small["tencrop"] < HONEST_MARK and is_tie(small["tencrop"], small["tencrop_interval"], HONEST_MARK),
        CHAPTER,
        f"that fer_vgg_s's ten-crop accuracy is under {HONEST_MARK} and ties with it",
        f"{small['tencrop']:.4f}",
    )
    helped = {n: v["tencrop"] > v["private"] for n, v in numbers.items()}
    hold(
        helped == {n: n != "report_cnn" for n in numbers} and rc["tencrop"] == rc["private"],
        CHAPTER,
        "that ten-crop raises every model's PrivateTest accuracy but report_cnn's, which it leaves as it was",
        f"{ {n: (round(v['private'], 4), round(v['tencrop'], 4)) for n, v in numbers.items()} }",
    )
    for name, v in numbers.items():
        for shipped, fresh in (
            ("public", "public_fresh"),
            ("private", "fresh"),
            ("tencrop", "fresh_tencrop"),
        ):
            drop = v[shipped] - v[fresh]
            hold(
                COPY_DROP[0] <= drop <= COPY_DROP[1],
                CHAPTER,
                f"that leaving out the copied faces costs {name} one to two and a half points ({shipped})",
                f"{drop:+.4f}",
            )


def check_fits(fits: dict[str, dict[str, Any]]) -> None:
    """What the text says about over- and underfitting, held to the histories: report_cnn and simple_cnn fit
    their training faces hardly better than PublicTest, simple_cnn still improving when it stopped early;
    fer_vgg_s in between; fer_vgg far above (training accuracy over 0.9), its PublicTest accuracy best at its
    last epoch while its validation loss rose from its lowest."""
    from .claims import hold

    gap = {n: f["gap"] for n, f in fits.items()}
    for name in ("report_cnn", "simple_cnn"):
        hold(
            0 <= gap[name] < SMALL_GAP,
            CHAPTER,
            f"that {name}'s training-PublicTest gap is small",
            f"{gap[name]:.4f}",
        )
    rc, sc, vs, vgg = (fits[n] for n in ("report_cnn", "simple_cnn", "fer_vgg_s", "fer_vgg"))
    hold(
        rc["rise"] < SMALL_GAP and rc["teacher"] == "fer_vgg_s",
        CHAPTER,
        "that report_cnn, distilled from fer_vgg_s, ends with its PublicTest loss within 2% of its lowest",
        f"teacher {rc['teacher']}, a rise of {rc['rise']:.1%}",
    )
    hold(
        vs["phases"] == 2 and vs["bn_kept"],
        CHAPTER,
        "that fer_vgg_s was resumed twice and kept its recomputed BatchNorm statistics",
        f"{vs['phases']} resumptions, recompute kept: {vs['bn_kept']}",
    )
    hold(
        sc["best_epoch"] == sc["epochs"] < sc["planned"],
        CHAPTER,
        "that simple_cnn was still improving when it stopped, before its planned epochs",
        f"best epoch {sc['best_epoch']} of {sc['epochs']}, {sc['planned']} planned",
    )
    hold(
        max(gap["report_cnn"], gap["simple_cnn"]) < gap["fer_vgg_s"] < WIDE_GAP <= gap["fer_vgg"],
        CHAPTER,
        "that fer_vgg_s's gap lies between the small models' and fer_vgg's, and fer_vgg's is the widest",
        f"{gap}",
    )
    hold(
        vgg["train_acc"] > 0.9,
        CHAPTER,
        "that fer_vgg is right on over 90% of its training faces",
        f"{vgg['train_acc']:.4f}",
    )
    hold(
        vgg["best_epoch"] == vgg["epochs"] and vgg["rise"] > 0.02,
        CHAPTER,
        "that fer_vgg's PublicTest accuracy peaked at its last epoch while its validation loss rose",
        f"best epoch {vgg['best_epoch']} of {vgg['epochs']}, loss {vgg['rise']:+.1%} from its lowest",
    )


def fit_values(fits: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The glued numbers of the over- and underfitting paragraphs."""
    short = {"report_cnn": "rc", "simple_cnn": "sc", "fer_vgg_s": "vs", "fer_vgg": "vgg"}
    values = {}
    for name, f in fits.items():
        k = short.get(name, name)
        values |= {
            f"results_{k}_best_epoch": str(f["best_epoch"]),
            f"results_{k}_epochs": str(f["epochs"]),
            f"results_{k}_planned": str(f["planned"]),
            f"results_{k}_train": f"{f['train_acc']:.4f}",
            f"results_{k}_val": f"{f['val_acc']:.4f}",
            f"results_{k}_gap": f"{f['gap']:.4f}",
            f"results_{k}_rise": f"{f['rise']:.1%}",
            f"results_{k}_low": str(f["low_epoch"]),
        }
    return values


def headline_values(numbers: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The glued numbers of the opening: per model its recipes and seeds, the shipped accuracy of its
    headline, the margin in faces, the interval, the seed mean and the number without the copied faces."""
    from .anchors import ANCHORS as A
    from .intro import margin_faces

    target = ORIGINAL_FINAL["val_acc"]
    values: dict[str, str] = {}
    for name, k, key, mark in (
        ("report_cnn", "rc", "public", target),
        ("simple_cnn", "sc", "public", target),
        ("fer_vgg_s", "vs", "tencrop", HONEST_MARK),
        ("fer_vgg", "vgg", "tencrop", HONEST_MARK),
    ):
        v = numbers[name]
        seed = {"public": "seed_public", "tencrop": "seed_tencrop"}[key]
        fresh = {"public": "public_fresh", "tencrop": "fresh_tencrop"}[key]
        lo, hi = v[f"{key}_interval"]
        values |= {
            f"results_{k}_recipes": str(v["recipes"]),
            f"results_{k}_seeds": str(v["seeds"]),
            f"results_{k}_acc": f"{v[key]:.4f}",
            f"results_{k}_faces": f"{round(v[key] * v['n']):,}",
            f"results_{k}_margin": f"{margin_faces(v[key], mark, v['n']):+.1f}",
            f"results_{k}_lo": f"{lo:.3f}",
            f"results_{k}_hi": f"{hi:.3f}",
            f"results_{k}_seed_mean": "" if v[seed] is None else f"{v[seed][0]:.4f} ± {v[seed][1]:.4f}",
            f"results_{k}_fresh": "" if v[fresh] is None else f"{v[fresh]:.4f}",
        }
    vgg = numbers["fer_vgg"]
    values |= {
        "results_target_faces": f"{target * numbers['report_cnn']['n']:,.1f}",
        "results_vgg_private": f"{vgg['private']:.4f}",
        "results_vgg_private_lo": f"{vgg['private_interval'][0]:.3f}",
        "results_vgg_private_hi": f"{vgg['private_interval'][1]:.3f}",
        "results_winner": f"{A[2]['PrivateTest']:.4f}",
        "results_n": f"{numbers['report_cnn']['n']:,}",
        "results_copies": f"{numbers['report_cnn']['copies']:,}",
        "results_public_copies": f"{numbers['report_cnn'].get('public_copies', 0):,}",
        "results_recipes": str(tried_recipes()),
    }
    return values


def holdout_values(data: FerData, device: str = "cpu", checked: bool = True) -> dict[str, Any]:
    """The hold-out study's table (Markdown for a numbered ``{table}``) and the numbers its paragraph
    reads, after holding that paragraph to them (where ``checked``); where the study cannot be measured on
    this data, a table that says why and empty numbers."""
    import pandas as pd
    from IPython.display import Markdown

    from .claims import hold
    from .holdout import holdout_study, holdout_study_check

    names = ("held", "public", "private", "lead", "err", "private_lead", "short", "n_train", "best", "epochs")
    problem = holdout_study_check(data)
    if problem:
        return {
            "results_holdout_table": Markdown(f"| not measured in this run |\n| --- |\n| {problem} |\n")
        } | {f"results_ho_{k}": "—" for k in names}
    study, meta = holdout_study(data, device=device)
    held, pub, priv = (float(study["accuracy"].iloc[i]) for i in range(3))
    copies = [float(c) for c in study["exact copy among the training faces"]]
    err = 1.96 * (held * (1 - held) / float(study["n"].iloc[0])) ** 0.5
    target = ORIGINAL_FINAL["val_acc"]
    if checked:
        hold(
            held - pub < err,
            CHAPTER,
            "that the hold-out's lead over PublicTest is inside its error",
            f"{held - pub:+.4f} against ±{err:.3f}",
        )
        hold(
            priv > held,
            CHAPTER,
            "that PrivateTest reads higher than the hold-out",
            f"{priv:.4f} against {held:.4f}",
        )
        hold(held < target, CHAPTER, "that the hold-out number does not reach 0.6510", f"{held:.4f}")
        hold(
            max(copies) - min(copies) < 0.02,
            CHAPTER,
            "that copies are about as common in each split",
            f"{copies}",
        )
    best = max(meta["history"], key=lambda e: e["val_acc"])
    frame = pd.DataFrame(
        {
            "faces": [f"{int(n):,}" for n in study["n"]],
            "accuracy": [f"{a:.4f}" for a in study["accuracy"]],
            "copied from Training": [f"{c:.1%}" for c in copies],
        },
        index=study.index,
    )
    return {
        "results_holdout_table": _md(frame, "split"),
        "results_ho_held": f"{held:.4f}",
        "results_ho_public": f"{pub:.4f}",
        "results_ho_private": f"{priv:.4f}",
        "results_ho_lead": f"{held - pub:+.4f}",
        "results_ho_err": f"{err:.3f}",
        "results_ho_private_lead": f"{priv - held:+.4f}",
        "results_ho_short": f"{held - target:+.4f}",
        "results_ho_n_train": f"{meta['n_train']:,}",
        "results_ho_best": str(best["epoch"]),
        "results_ho_epochs": str(len(meta["history"])),
    }


def text_values(
    data: FerData,
    table: Any,
    run_dir: str | Path = "runs",
    use_pretrained: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """Every value the chapter's text and tables read, by glue name, after the text's claims are held to
    this run (where the data is the FER2013 the shipped models were measured on)."""
    from .claims import apply_to

    numbers = headline_numbers(data)
    names = trained_models(table)
    fits = model_fits(names, run_dir, use_pretrained)
    checked = apply_to(data)
    if checked:
        check_headlines(numbers)
        check_fits(fits)
    return (
        headline_values(numbers)
        | fit_values(fits)
        | holdout_values(data, device, checked)
        | {
            "results_headline_table": headline_table(numbers),
            "results_measured_table": measured_table(table),
            "results_published_table": published_table(numbers),
            "results_recipe_table": recipe_table(names, run_dir, use_pretrained),
            "results_fit_table": fit_table(fits),
        }
    )
