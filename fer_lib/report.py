"""The report: run every chapter notebook with papermill, and the helpers the chapters share.

``run_report`` executes the notebooks of ``_toc.yml`` in order into an output folder with shared
parameters, stops at the first failure, and only then (``publish=True``) copies the executed
notebooks over ``book/``: a failed or partial run never reaches the book.
"""

from __future__ import annotations

import difflib
import json
import platform
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .data import CLASSES, FerData, load_fer2013
from .errors import ConfigError, FerError

REPO = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO / "book"

# The original report's final epoch (its question 2), quoted as the reference to compare with.
ORIGINAL_FINAL = {"loss": 0.6485, "acc": 0.7597, "val_loss": 1.0013, "val_acc": 0.6510}
# Khaireddin & Chen 2021, VGG variant with ten-crop TTA, tuned on PublicTest: the honest single-model mark
HONEST_MARK = 0.7328
REPRODUCED = ("report_cnn", "simple_cnn")  # the models whose target is the original's val_acc


class ReportFailed(FerError):
    """A chapter notebook raised; the book was not touched."""


# --------------------------------------------------------------------------- running the book


def toc_notebooks(toc: Path | None = None, book_dir: Path | None = None) -> list[Path]:
    """The chapter notebooks in the order ``_toc.yml`` gives."""
    import yaml

    toc = toc or REPO / "_toc.yml"
    book_dir = book_dir or BOOK_DIR
    spec = yaml.safe_load(toc.read_text())
    names = [spec["root"]]

    def walk(entries: list[dict]) -> None:
        for e in entries:
            if "file" in e:
                names.append(e["file"])
            for key in ("chapters", "sections", "parts"):
                if key in e:
                    walk(e[key])

    walk(spec.get("chapters", []) + spec.get("parts", []))
    return [book_dir / f"{n}.ipynb" for n in names]


def select_chapters(names: Sequence[str], notebooks: Sequence[Path] | None = None) -> list[Path]:
    """The chapters named in ``names`` (``q4_saliency`` or ``q4_saliency.ipynb``), in book order."""
    notebooks = list(notebooks or toc_notebooks())
    known = {nb.stem: nb for nb in notebooks}
    wanted = {Path(n).stem for n in names}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ConfigError(f"no chapter named {', '.join(unknown)} in _toc.yml; chapters: {', '.join(known)}.")
    return [nb for nb in notebooks if nb.stem in wanted]


def run_report(
    params: dict[str, Any],
    out_dir: str | Path,
    *,
    notebooks: Sequence[Path] | None = None,
    publish: bool = False,
    kernel: str = "python3",
    log: Any = print,
    given: set[str] | None = None,
) -> list[Path]:
    """Execute the chapters in order with ``params`` (each notebook gets the ones it declares).

    ``given`` names the parameters the user set (as opposed to the runner's own, such as device):
    each must be declared by at least one of the chapters run, so that a typo is an error, not a
    silent default.
    """
    import papermill as pm

    from .checks import output_dir

    notebooks = list(notebooks or toc_notebooks())
    for nb in notebooks:
        if not nb.exists():
            raise ReportFailed(f"{nb}: the chapter listed in _toc.yml does not exist.")
    declared = {nb: set(pm.inspect_notebook(str(nb))) for nb in notebooks}
    known = set().union(*declared.values())
    for key in sorted((given or set()) - known):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(
            f"no chapter run here takes the parameter '{key}'; {hint}they take: {', '.join(sorted(known))}."
        )
    out = output_dir(out_dir, "--out")
    done: list[Path] = []
    for nb in notebooks:
        own = {k: v for k, v in params.items() if k in declared[nb]}
        target = out / nb.name
        t0 = time.perf_counter()
        log(f"running {nb.name} with {own}")
        try:
            pm.execute_notebook(
                str(nb),
                str(target),
                parameters=own,
                kernel_name=kernel,
                cwd=str(REPO),
                progress_bar=False,
                report_mode=False,
            )
        except pm.PapermillExecutionError as e:
            raise ReportFailed(
                f"{nb.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
                f"(executed notebook kept at {target}; the book was not changed)."
            ) from None
        _hide_parameter_cells(target)
        log(f"  done in {time.perf_counter() - t0:.0f} s -> {target}")
        done.append(target)
    if publish:
        for nb_out, nb in zip(done, notebooks):
            shutil.copyfile(nb_out, nb)
        log(f"published {len(done)} executed notebooks into {notebooks[0].parent}")
    return done


def _hide_parameter_cells(path: Path) -> None:
    """Hide papermill's injected-parameters cell in the book (the run-parameters box shows them)."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------- helpers for chapters


def load_data(data: str = "", seed: int = 0) -> FerData:
    """'' -> $FER2013_CSV; 'synthetic' -> the generated stand-in; anything else is a path."""
    if data == "synthetic":
        from .synthetic import synthetic_fer

        return synthetic_fer(700, 140, 140, seed=seed)
    return load_fer2013(data or None)


def show_parameters(**params: Any) -> Any:
    """A small 'run parameters' box for the top of a chapter."""
    from IPython.display import HTML

    items = "".join(f"<code>{k} = {v!r}</code>&ensp; " for k, v in params.items())
    return HTML(
        f'<div class="admonition note"><p class="admonition-title">Run parameters</p><p>{items}</p></div>'
    )


def run_folder(run_dir: str | Path, model: str) -> Path:
    return Path(run_dir) / model


def train_or_load(
    model: str,
    data: FerData,
    run_dir: str | Path,
    *,
    epochs: int,
    device: str = "auto",
    limit: int = 0,
    seed: int = 0,
    use_pretrained: bool = False,
    **cfg: Any,
) -> dict[str, Any]:
    """Train ``model`` (resuming its run folder), or load the shipped weights; say which happened."""
    from .pretrained import load_model, pretrained_info
    from .ship import full_run_meta
    from .train import TrainConfig, train

    folder = run_folder(run_dir, model)
    if use_pretrained and pretrained_info(model) is not None:
        net, meta = load_model(model, device="cpu")
        card = pretrained_info(model)
        return {
            "model": net,
            "history": card["history"],
            "source": "pretrained",
            "folder": None,
            "meta": meta,
        }
    before = 0
    if (folder / "history.json").exists():
        before = len(json.loads((folder / "history.json").read_text()))
    history = train(
        TrainConfig(
            model=model, epochs=epochs, device=device, limit=limit or None, seed=seed, progress=False, **cfg
        ),
        data,
        folder,
        resume=True,
    )
    net, meta = load_model(folder / "best.pt")
    meta = full_run_meta(folder, meta)  # the whole run's config and changes, not best.pt's epoch
    source = "trained" if before == 0 else ("loaded" if before >= epochs else "resumed")
    return {
        "model": net,
        "history": history,
        "source": source,
        "epochs_before": before,
        "folder": str(folder),
        "meta": meta,
    }


def model_for(model: str, run_dir: str | Path, use_pretrained: bool = False) -> tuple[Any, str]:
    """The chapter's trained model: the run folder's best.pt, else the shipped weights."""
    net, source, _ = model_record(model, run_dir, use_pretrained)
    return net, source


def model_record(model: str, run_dir: str | Path, use_pretrained: bool = False) -> tuple[Any, str, dict]:
    """The trained model (run folder's best.pt, else the shipped weights), where it came from, and its
    metadata with the whole run's history, config and changes."""
    from .pretrained import load_model, pretrained_info
    from .ship import full_run_meta

    best = run_folder(run_dir, model) / "best.pt"
    if best.exists() and not (use_pretrained and pretrained_info(model)):
        net, meta = load_model(best)
        return net, str(best), full_run_meta(best.parent, meta)
    if pretrained_info(model) is not None:
        net, meta = load_model(model)
        return net, f"pretrained '{model}'", meta
    raise ConfigError(
        f"no trained '{model}': {best} does not exist and no pretrained weights ship; run the training chapter first."
    )


def results_table(
    models: list[str],
    data: FerData,
    run_dir: str | Path = "runs",
    use_pretrained: bool = False,
    device: str = "cpu",
) -> Any:
    """One row per model: where it came from, its epochs, and accuracy on both test splits with and without TTA.

    A model with neither a run folder nor shipped weights gets a row that says so.
    """
    import pandas as pd

    from .evaluate import measure

    rows, spreads, recomputed, teachers = [], {}, {}, {}
    for name in models:
        try:
            net, source, meta = model_record(name, run_dir, use_pretrained)
        except ConfigError:
            rows.append({"model": name, "source": "not trained yet"})
            continue
        hist = meta.get("history") or []
        best = max(hist, key=lambda h: h.get("val_acc", -1)) if hist else {}
        m = measure(net, data, device=device)
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
    """' Over N seeds: key mean ± sd (gap of the mean to the target); other mean ± sd.' or '' without seed runs."""
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
        f" Its shipped BatchNorm statistics were recomputed on Training after the epoch was chosen (PublicTest "
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
    from .pretrained import experiments

    text = (
        f" Its loss is not the original's alone: {teacher['distill']:g} × the soft targets of `{teacher['teacher']}` "
        f"(temperature {teacher['distill_temp']:g}) beside the cross-entropy."
    )
    plain = [r for r in experiments(name, folder) if not (r.get("config") or {}).get("teacher")]
    if plain:
        best = max(plain, key=lambda r: r["best_PublicTest"])
        target = ORIGINAL_FINAL["val_acc"]
        text += (
            f" Without a teacher, the best of {len(plain)} recorded run{'s' if len(plain) > 1 else ''} of {name} "
            f"(`{best['run']}`) reached PublicTest {best['best_PublicTest']:.4f} "
            f"({'reaching' if best['best_PublicTest'] >= target else 'short of'} {target:.4f}; the appendix lists them)."
        )
    return text


def describe_targets(table: Any, folder: str | Path | None = None) -> str:
    """Markdown: each target of the reference run against what the table measured, met or not, with the gap."""
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
            "\nEvery number above rests on a single seed (one training run per model), so no spread can be given."
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
    precision = {r["seed"]: r.get("bf16") for r in runs}
    if None not in precision.values() and len(set(precision.values())) > 1:

        def seeds(flag: bool) -> str:
            chosen = [str(s) for s, b in precision.items() if b is flag]
            return ("Seeds " if len(chosen) > 1 else "Seed ") + ", ".join(chosen)

        text += (
            f" {seeds(True)} trained under bf16 autocast and {seeds(False).lower()} in float32 (the training"
            " machines differed in native bf16); the recipe is the same."
        )
    return text


def describe_shipped(card: dict) -> str:
    """Markdown: the shipped weights' PublicTest accuracy, measured again at export, beside the history's.

    The curves' validation numbers were taken during training (under bf16 autocast where the run used it) from the
    full-precision weights; the card's were measured from the fp16 weights that ship, in float32. They can differ
    in the third decimal, and a reader comparing chapters should know which is which."""
    m = (card.get("metrics") or {}).get("PublicTest")
    if not m:
        return ""
    during = "under bf16 autocast" if card.get("bf16") else "in float32"
    text = (
        f"Measured again from the shipped fp16 weights in float32, PublicTest accuracy is {m['accuracy']:.4f} "
        f"(the number the results chapter uses); the history's numbers were taken during training, {during}."
    )
    bn = describe_batchnorm(card)
    return text + (" " + bn if bn else "")


def describe_batchnorm(card: dict) -> str:
    """Markdown: where a shipped model's BatchNorm statistics were recomputed (or tried) after export, what PublicTest said."""
    bn = card.get("batchnorm") or {}
    if not bn:
        return ""
    b, a = bn["PublicTest before"], bn["PublicTest after"]
    sample = (card.get("config") or {}).get("bn_recompute")
    # what the new statistics replace: a run trained with bn_recompute saved its sample's statistics with each best.pt
    trained = (
        f"the statistics of the {sample:,} Training images its epochs were validated with"
        if sample
        else "the trainer's running averages"
    )
    if not bn["kept"]:
        return (
            f"After its epoch was chosen, new BatchNorm statistics ({bn['statistics']}) were tried in place of "
            f"{trained}: PublicTest {b['accuracy']:.4f} → {a['accuracy']:.4f}, so they were not kept and "
            "the shipped weights are as trained."
        )
    return (
        f"After its epoch was chosen, the BatchNorm statistics of the shipped weights were {bn['statistics']}, in place "
        f"of {trained}{'' if sample else ' (the last few dozen batches, gathered with dropout on)'}: PublicTest "
        f"{b['accuracy']:.4f} → {a['accuracy']:.4f} ({b['accuracy_tencrop']:.4f} → {a['accuracy_tencrop']:.4f} with "
        "ten-crop), kept because PublicTest rose."
        + (" Seed-run numbers are those of the weights as trained." if card.get("seed_runs") else "")
    )


# --------------------------------------------------------------------------- the hold-out study

HOLDOUT_STUDY = Path(__file__).parent / "pretrained" / "studies" / "report_cnn_holdout.pt"


def export_holdout_study(
    run_folder: str | Path,
    data: FerData,
    fraction: float = 0.1,
    seed: int = 0,
    dest: str | Path | None = None,
) -> Path:
    """Ship a run trained on ``hold_out(data, fraction, seed)`` (fp16 weights, its history, the hold-out's recipe).

    The run must have been trained on exactly that data (checked by fingerprint), e.g. with
    ``fer-lib train --data train.csv --val-fraction 0.1 --seed 0`` on the NTU-style Training split.
    """
    from .data import hold_out
    from .pretrained import load_model
    from .ship import full_run_meta, save_fp16

    run = Path(run_folder)
    if not (run / "best.pt").exists():
        raise ConfigError(f"{run}: no best.pt; not a finished training run.")
    model, meta = load_model(run / "best.pt")
    meta = full_run_meta(run, meta)
    held = hold_out(data, fraction, seed)
    if meta["data_hash"] != held.fingerprint():
        raise ConfigError(
            f"{run} was trained on data {meta['data_hash']}, not on the {fraction:g} hold-out of Training "
            f"with seed {seed} ({held.fingerprint()})."
        )
    meta["holdout"] = {"fraction": fraction, "seed": seed}
    out = Path(dest) if dest else HOLDOUT_STUDY
    out.parent.mkdir(parents=True, exist_ok=True)
    save_fp16(model, meta, out)
    return out


def holdout_study_check(data: FerData, path: str | Path | None = None) -> str:
    """'' when the hold-out study can be measured on ``data``; otherwise the reason it cannot (in words)."""
    from .data import hold_out
    from .models import checkpoint_meta

    p = Path(path or HOLDOUT_STUDY)
    if not p.is_file():
        return f"no hold-out study model at {p}"
    meta = checkpoint_meta(p)
    h = meta.get("holdout") or {}
    if "Training" not in data.split_names() or not h:
        return "the data has no Training split" if h else f"{p.name} is not a hold-out study checkpoint"
    if hold_out(data, h["fraction"], h["seed"]).fingerprint() != meta["data_hash"]:
        return (
            f"the study model was trained on other data ({meta.get('data_source', 'unrecorded')}, hash "
            f"{meta['data_hash']}), so its hold-out cannot be rebuilt from this data"
        )
    return ""


def holdout_study(data: FerData, path: str | Path | None = None, device: str = "cpu") -> tuple[Any, dict]:
    """The study model's accuracy on its own hold-out of Training, on PublicTest and on PrivateTest, and its metadata.

    The model was trained on the rest of Training and chosen on the hold-out, as a report that had
    only the course's train.csv could do; PublicTest and PrivateTest it never saw.
    """
    import pandas as pd

    from .data import hold_out
    from .evaluate import predict_logits
    from .pretrained import load_model

    model, meta = load_model(path or HOLDOUT_STUDY, device=device)
    h = meta.get("holdout")
    if not h:
        raise ConfigError(f"{path or HOLDOUT_STUDY}: not a hold-out study checkpoint (no 'holdout' entry).")
    held = hold_out(data, h["fraction"], h["seed"])
    if held.fingerprint() != meta["data_hash"]:
        raise ConfigError(
            f"the study model was trained on data {meta['data_hash']}; the hold-out of this data is "
            f"{held.fingerprint()}, so its faces may overlap the training faces."
        )
    seen = {face.tobytes() for face in held.split("Training").images}
    rows = []
    for faces, part in (
        (f"hold-out: {100 * h['fraction']:g}% of Training", held.split("PublicTest")),
        ("PublicTest", data.split("PublicTest")),
        ("PrivateTest", data.split("PrivateTest")),
    ):
        pred = predict_logits(model, part.images, device=device).argmax(1).numpy()
        rows.append(
            {
                "faces": faces,
                "n": len(part),
                "accuracy": float((pred == part.labels).mean()),
                "exact copy among the training faces": float(
                    np.mean([face.tobytes() in seen for face in part.images])
                ),
            }
        )
    return pd.DataFrame(rows).set_index("faces"), meta


def describe_holdout(table: Any, meta: dict) -> str:
    """Markdown: how the hold-out accuracy compares with PublicTest, PrivateTest and the original's val_acc."""
    held, pub, priv = (float(table["accuracy"].iloc[i]) for i in range(3))
    copies = [float(c) for c in table["exact copy among the training faces"]]
    shares = f"hold-out {copies[0]:.1%}, PublicTest {copies[1]:.1%}, PrivateTest {copies[2]:.1%}"
    if max(copies) - min(copies) < 0.02:
        copy_note = (
            f"Exact pixel copies of training faces are about as common in each split ({shares}), "
            "so they do not by themselves favour one split."
        )
    else:
        copy_note = f"Exact pixel copies of training faces are not equally common: {shares}."
    best = max(meta["history"], key=lambda e: e["val_acc"])
    target = ORIGINAL_FINAL["val_acc"]
    err = 1.96 * (held * (1 - held) / float(table["n"].iloc[0])) ** 0.5
    if held - max(pub, priv) > err:
        verdict = (
            f"The hold-out reads higher than both test splits by more than its sampling error (±{err:.3f}, 95%): "
            "validating on Training faces flatters a model."
        )
    else:
        verdict = (
            f"The hold-out's lead over PublicTest ({held - pub:+.4f}) is within its sampling error (±{err:.3f}, 95%), "
            f"and PrivateTest, unseen too, reads {priv - held:+.4f} against the hold-out: this run finds no sign that "
            "validating on Training faces reads higher than the test splits."
        )
    reach = "reaches" if held >= target else "does not reach"
    return (
        f"Trained on the other {meta['n_train']:,} Training faces with "
        + describe_recipe(meta["config"], len(meta["history"])).rstrip(".")
        + f", and chosen on the hold-out (epoch {best['epoch']} of {len(meta['history'])}), `report_cnn` scores "
        f"**{held:.4f}** on its hold-out, **{pub:.4f}** on PublicTest and {priv:.4f} on PrivateTest. "
        f"The hold-out number is the best of {len(meta['history'])} epochs measured on it, so it carries the optimism "
        "of that choice; the test splits' numbers do not. "
        + verdict
        + f" With this setup the hold-out number {reach} the original's val_acc of {target:.4f} ({held - target:+.4f}). "
        "One seed and one hold-out draw. " + copy_note
    )


# Published FER2013 numbers, each with the protocol its source states; None where a source gives none.
ANCHORS = [
    {
        "source": "the original report (Keras, 4-block CNN)",
        "PublicTest": 0.6510,
        "PrivateTest": None,
        "PrivateTest (TTA)": None,
        "protocol": "final epoch's validation accuracy; its validation split is not stated beyond 'val'",
    },
    {
        "source": "Goodfellow et al. 2013: human accuracy (estimate)",
        "PublicTest": None,
        "PrivateTest": 0.65,
        "PrivateTest (TTA)": None,
        "protocol": "estimated on a small sample, +-5%",
    },
    {
        "source": "Goodfellow et al. 2013: challenge winner (Tang, SVM-loss CNN)",
        "PublicTest": None,
        "PrivateTest": 0.7116,
        "PrivateTest (TTA)": None,
        "protocol": "competition: PrivateTest hidden until the end",
    },
    {
        "source": "Khaireddin & Chen 2021 (VGG variant)",
        "PublicTest": None,
        "PrivateTest": None,
        "PrivateTest (TTA)": HONEST_MARK,
        "protocol": "tuned on PublicTest, reported once on PrivateTest with ten-crop TTA",
    },
    {
        "source": "popular FER repository (VGG19)",
        "PublicTest": None,
        "PrivateTest": 0.731,
        "PrivateTest (TTA)": None,
        "protocol": "best checkpoint chosen on PrivateTest itself (optimistic)",
    },
    {
        "source": "popular FER repository",
        "PublicTest": None,
        "PrivateTest": 0.737,
        "PrivateTest (TTA)": None,
        "protocol": "best checkpoint chosen on PrivateTest itself (optimistic)",
    },
]


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
            f"({recomputed[name]['PublicTest before']['accuracy']:.4f} → {recomputed[name]['PublicTest after']['accuracy']:.4f}); "
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
                    f"trained on Training; {kd}checkpoint chosen on PublicTest (epoch {r['best epoch']} of {r['epochs']}); "
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


def describe_recipe(config: dict, epochs_run: int | None = None) -> str:
    """A training config in words: optimizer, schedule, regularisation and augmentation.

    ``epochs_run`` (say ``len(history)``) is the number of epochs actually trained; where a run
    was stopped before its planned ``epochs``, both are given.
    """
    from .recipe import ADAM_BETAS, SGD_MOMENTUM

    c = config
    if c["optimizer"] == "sgd":
        opt = f"SGD ({'Nesterov ' if c.get('nesterov', True) else ''}momentum {c.get('momentum', SGD_MOMENTUM)})"
    else:
        opt = f"{'AdamW' if c['optimizer'] == 'adamw' else 'Adam'} (β = {tuple(c.get('betas', ADAM_BETAS))})"
    sched = {
        "constant": f"a constant learning rate of {c['lr']:g}",
        "onecycle": f"a one-cycle learning rate peaking at {c['lr']:g}",
        "cosine": f"a cosine learning rate from {c['lr']:g}",
        "plateau": f"a learning rate of {c['lr']:g}, halved whenever PublicTest accuracy has not improved for more than 3 epochs",
    }[c["schedule"]]
    aug = [
        name
        for on, name in (
            (c.get("flip"), "mirroring"),
            (c.get("shift"), f"shifts up to {c.get('shift'):g} px"),
            (c.get("rotate"), f"rotations up to {c.get('rotate'):g}°"),
            (c.get("scale"), f"scaling ±{100 * c.get('scale', 0):g}%"),
            (c.get("erase"), f"random erasing (p = {c.get('erase'):g})"),
            (c.get("mixup"), f"mixup (α = {c.get('mixup', 0):g})"),
        )
        if on
    ]
    reg = [
        t
        for on, t in (
            (c.get("weight_decay"), f"weight decay {c.get('weight_decay'):g}"),
            (c.get("label_smoothing"), f"label smoothing {c.get('label_smoothing'):g}"),
        )
        if on
    ]
    if epochs_run is not None and epochs_run < c["epochs"]:
        epochs = f"stopped after {epochs_run} of {c['epochs']} planned epochs"
    else:
        epochs = f"{c['epochs'] if epochs_run is None else epochs_run} epochs"
    extra = []  # settings that older runs' configs lack
    if c.get("model_kwargs"):
        extra.append("the model built with " + ", ".join(f"{k}={v}" for k, v in c["model_kwargs"].items()))
    if c.get("init"):
        extra.append(f"started from the weights of `{c['init']}`")
    if c.get("teacher"):
        extra.append(
            f"distilled from `{c['teacher']}` (weight {c['distill']:g}, temperature {c['distill_temp']:g})"
        )
    if c.get("ema"):
        extra.append(f"a moving average of the weights (decay {c['ema']:g}) validated and kept")
    if c.get("bn_recompute"):
        extra.append(
            f"BatchNorm statistics recomputed from {c['bn_recompute']:,} Training images (dropout off) before each validation"
        )
    return (
        f"{opt} with {sched}, batch {c['batch_size']}, {epochs}"
        + (", " + ", ".join(reg) if reg else "")
        + "; augmentation: "
        + (", ".join(aug) or "none")
        + ("; " + "; ".join(extra) if extra else "")
        + "."
    )


def describe_changes(changes: list[dict] | None) -> str:
    """A sentence for the settings a resumed run changed (say a constant learning rate extended with a plateau schedule)."""
    if not changes:
        return ""
    parts = []
    for c in changes:
        items = ", ".join(f"`{k}` {old} → {new}" for k, (old, new) in sorted(c["changed"].items()))
        parts.append(f"from epoch {c['from_epoch']}: {items}")
    return "The run was resumed with other settings " + "; ".join(parts) + "."


def pick_faces(data: FerData, split: str, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices into ``data.split(split)``: ``per_class`` seeded faces of each class."""
    part = data.split(split)
    rng = np.random.default_rng(seed)
    idx = []
    for c in range(len(CLASSES)):
        pool = np.flatnonzero(part.labels == c)
        idx.extend(rng.choice(pool, min(per_class, len(pool)), replace=False).tolist())
    return np.array(idx)


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info() -> dict[str, str]:
    """Library versions and the machine, for the reproducibility appendix."""
    import importlib.metadata as md

    import torch

    from .device import cpu_has_fast_bf16

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu bf16": (
            "native: CPU training runs under bf16 autocast"
            if cpu_has_fast_bf16()
            else "none: CPU training runs in float32"
        ),
        "cpu threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    for pkg in (
        "fer-lib",
        "torch",
        "captum",
        "numpy",
        "pandas",
        "seaborn",
        "matplotlib",
        "sympy",
        "papermill",
        "jupyter-book",
        "myst-nb",
    ):
        try:
            info[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info[pkg] = "not installed"
    return info


def shipped_runs(models: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The training runs behind each shipped model, one row per seed run, read from its card.

    Run folders are local state (``runs/`` is not in the repository), so a fresh checkout has none;
    the cards carry what the book's numbers rest on. ``minutes`` is known for the shipped run only.
    """
    from .models import REGISTRY
    from .pretrained import pretrained_info
    from .ship import card_row

    rows = []
    for name in models or sorted(REGISTRY):
        card = pretrained_info(name)
        if card is None:
            continue
        m = card["metrics"]
        runs = card.get("seed_runs") or [card_row(card, name, m)]
        cfg = card["config"]
        for r in runs:
            rows.append(
                {
                    "model": name,
                    "run": r["run"],
                    "seed": r["seed"],
                    "epochs": r["epochs"],
                    "best epoch": r["best_epoch"],
                    "PublicTest": r["PublicTest"],
                    "PrivateTest": r["PrivateTest"],
                    "PrivateTest ten-crop": r.get("PrivateTest ten-crop"),
                    "shipped": r["shipped"],
                    "trained on": card["trained_on"],
                    "bf16": r.get("bf16", card["bf16"]),
                    "torch": card["torch"],
                    "minutes": card.get("minutes") if r["shipped"] else None,
                    "last phase": f"{cfg['optimizer']}, lr {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['schedule']}",
                    "data hash": card["data_hash"],
                }
            )
    return rows


def local_runs(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every run folder in ``run_dir`` (training now or finished), read back from its ``last.pt``."""
    from .models import checkpoint_meta

    rows = []
    for last in sorted(Path(run_dir).glob("*/last.pt")):
        meta = checkpoint_meta(last)
        cfg = meta["config"]
        rows.append(
            {
                "run": last.parent.name,
                "model": meta["model"],
                "epochs": meta["epoch"],
                "planned epochs": cfg["epochs"],
                "device": meta["device"],
                "bf16": meta["bf16"],
                "minutes": sum(e["seconds"] for e in meta["history"]) / 60,
                "best PublicTest acc": meta["best_val_acc"],
                "data hash": meta["data_hash"],
                "config": {k: cfg[k] for k in ("optimizer", "lr", "batch_size", "schedule", "seed")},
            }
        )
    return rows


def experiment_rows(model: str | None = None, folder: str | Path | None = None) -> list[dict[str, Any]]:
    """The recorded experiments (``pretrained.record_experiment``), one row each, in the order recorded."""
    from .pretrained import experiments

    return [
        {
            "run": r["run"],
            "model": r["model"],
            "question": r["question"],
            "note": " ".join(t for t in (r.get("note", ""), _retired(r)) if t),
            "seed": r["seed"],
            "epochs": f"{r['epochs']} of {r['planned_epochs']}"
            if r["epochs"] < r["planned_epochs"]
            else str(r["epochs"]),
            "best epoch": r["best_epoch"],
            "best PublicTest": r["best_PublicTest"],
            "minutes": r["minutes"],
            "recipe": " ".join(
                t
                for t in (describe_recipe(r["config"], r["epochs"]), describe_changes(r["config_changes"]))
                if t
            ),
        }
        for r in experiments(model, folder)
    ]


def _retired(record: dict[str, Any]) -> str:
    """What a record made by ``pretrained.retire_pretrained`` adds: the model it shipped as, its other seeds."""
    if not record.get("shipped_as"):
        return ""
    seeds = ", ".join(f"{o['PublicTest']:.4f} (seed {o['seed']})" for o in record.get("other_seeds", []))
    return (
        f"It shipped as `{record['shipped_as']}` until a recipe with a higher PublicTest accuracy replaced it"
        + (f"; the recipe's other seed runs reached PublicTest {seeds}." if seeds else ".")
    )


def describe_experiments(rows: list[dict[str, Any]], model: str, shipped_public: float | None = None) -> str:
    """What the recorded experiments of ``model`` found against the original report's val_acc."""
    mine = [r for r in rows if r["model"] == model]
    if not mine:
        return f"No experiments of {model} are recorded."
    target = ORIGINAL_FINAL["val_acc"]
    best = max(mine, key=lambda r: r["best PublicTest"])
    hits = [r for r in mine if r["best PublicTest"] >= target]
    n = len(mine)
    if n == 1:
        text = (
            f"1 experiment of {model} is recorded: `{best['run']}`, best PublicTest {best['best PublicTest']:.4f} "
            f"at epoch {best['best epoch']}. "
        )
    else:
        text = (
            f"{n} experiments of {model} are recorded; their best PublicTest accuracies range "
            f"{min(r['best PublicTest'] for r in mine):.4f}–{best['best PublicTest']:.4f} "
            f"(best: `{best['run']}`, epoch {best['best epoch']}). "
        )
    text += (
        f"{len(hits)} reach{'es' if len(hits) == 1 else ''} the original report's val_acc {target:.4f}."
        if hits
        else f"None reaches the original report's val_acc {target:.4f} (the best is {best['best PublicTest'] - target:+.4f})."
    )
    if shipped_public is not None:
        better = [r for r in mine if r["best PublicTest"] > shipped_public]
        text += (
            f" {len(better)} of them reach{'es' if len(better) == 1 else ''} a higher best PublicTest than the shipped {model}'s "
            f"{shipped_public:.4f}."
            if better
            else f" None beats the shipped {model}'s PublicTest {shipped_public:.4f}."
        )
    return text


def notebook_runs(folder: str | Path, *fallbacks: str | Path) -> list[dict[str, Any]]:
    """Papermill's record (duration, parameters, exception) of each executed chapter in ``folder``.

    A chapter missing from ``folder`` is read from the first of ``fallbacks`` that has it: after
    a partial run (``--only``) that publishes into the book, the book's other chapters keep the
    record of the run that made them. ``folder`` says where each record came from.
    """
    rows = []
    for nb in toc_notebooks(book_dir=Path(folder)):
        path = next((p for p in (Path(f) / nb.name for f in (folder, *fallbacks)) if p.exists()), None)
        if path is None:
            continue
        pm = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        rows.append(
            {
                "notebook": nb.name,
                "seconds": pm.get("duration"),
                "parameters": pm.get("parameters", {}),
                "exception": pm.get("exception"),
                "start": pm.get("start_time"),
                "folder": str(path.parent),
            }
        )
    return rows


# --------------------------------------------------------------------------- generated prose

# What the face does in each expression (FACS action units, Ekman & Friesen), to explain
# why two classes are hard to tell apart. These are facts about faces, not about a run.
_PAIR_REASONS = {
    frozenset(
        {"fear", "sad"}
    ): "both raise the inner brows and pull the mouth sideways or down, and both are often shown with a lowered gaze",
    frozenset(
        {"fear", "surprise"}
    ): "both raise the brows and open the eyes wide; only the tense, stretched mouth of fear differs from surprise's relaxed open jaw",
    frozenset({"angry", "sad"}): "both lower and draw the brows together and press or turn down the mouth",
    frozenset(
        {"angry", "disgust"}
    ): "both lower the brows and tighten the face; disgust adds a wrinkled nose and raised upper lip that 48x48 pixels barely show",
    frozenset(
        {"angry", "fear"}
    ): "both tense the brows and widen or tighten the eyes, and a scream and a shout open the mouth alike",
    frozenset(
        {"sad", "neutral"}
    ): "a mild sad face differs from a neutral one only by slightly lowered mouth corners and raised inner brows",
    frozenset({"angry", "neutral"}): "a mild frown is a small change from a neutral face at this resolution",
    frozenset({"fear", "neutral"}): "a subdued fear face keeps most of a neutral face's geometry",
    frozenset({"happy", "neutral"}): "a closed-mouth, faint smile changes only the mouth corners",
    frozenset(
        {"surprise", "happy"}
    ): "both open the mouth, and a laughing face also raises the cheeks and brows",
    frozenset({"disgust", "sad"}): "both turn the mouth down and narrow the eyes",
}


def explain_pair(a: str, b: str) -> str:
    return _PAIR_REASONS.get(
        frozenset({a, b}), "the two expressions share most of their facial movements at 48x48 pixels"
    )


def describe_confusions(cm: np.ndarray, train_counts: dict[str, int] | None = None, k: int = 3) -> str:
    """Markdown: the most confused pairs of this run, the weakest and strongest classes, and why."""
    from .evaluate import most_confused, per_class_metrics

    pcm = per_class_metrics(np.asarray(cm))
    recall = {c: v["recall"] for c, v in pcm.items()}
    worst = sorted(recall, key=recall.get)[:2]
    best = max(recall, key=recall.get)
    lines = [
        f"**Strongest class:** {best} (recall {recall[best]:.2f}). **Weakest:** "
        + ", ".join(f"{c} (recall {recall[c]:.2f})" for c in worst)
        + "."
    ]
    lines.append("")
    lines.append("**Most frequent confusions** (true → predicted):")
    lines.append("")
    for t, p, n, share in most_confused(np.asarray(cm), k):
        lines.append(f"- {t} → {p}: {n} faces, {share:.1%} of all {t} faces. Why: {explain_pair(t, p)}.")
    if train_counts:
        total = sum(train_counts.values())
        rare = min(train_counts, key=train_counts.get)
        lines.append("")
        lines.append(
            f"**Data imbalance:** {rare} has only {train_counts[rare]:,} training images "
            f"({train_counts[rare] / total:.1%} of Training), so its recall of {recall[rare]:.2f} rests on little evidence."
        )
    sad_pred = np.asarray(cm)[:, CLASSES.index("sad")]
    top_into_sad = [CLASSES[i] for i in np.argsort(sad_pred)[::-1] if CLASSES[i] != "sad"][:2]
    lines.append("")
    lines.append(
        f"Faces wrongly called **sad** come mostly from {top_into_sad[0]} and {top_into_sad[1]} "
        f"({sad_pred[CLASSES.index(top_into_sad[0])]} and {sad_pred[CLASSES.index(top_into_sad[1])]} faces)."
    )
    return "\n".join(lines)


def describe_history(history: list[dict], name: str, reference: dict[str, float] | None = None) -> str:
    """Markdown: the final and best epochs of a run, and how they compare with the original report."""
    last = history[-1]
    best = max(history, key=lambda h: h.get("val_acc", -1))
    gap = last["acc"] - last.get("val_acc", float("nan"))
    text = (
        f"**{name}** trained for {len(history)} epochs ({sum(h['seconds'] for h in history) / 60:.0f} min in all). "
        f"Final epoch: loss {last['loss']:.4f}, acc {last['acc']:.4f}, val_loss {last['val_loss']:.4f}, val_acc {last['val_acc']:.4f}. "
        f"Best PublicTest accuracy {best['val_acc']:.4f} at epoch {best['epoch']} (the checkpoint kept as best.pt). "
        f"The gap between training and validation accuracy at the end is {gap:+.3f}."
    )
    if reference:
        verdict = "reaches" if best["val_acc"] >= reference["val_acc"] else "falls short of"
        text += (
            f" The original report ended at val_acc {reference['val_acc']:.4f}; this run {verdict} it "
            f"({best['val_acc'] - reference['val_acc']:+.4f} at the best epoch)."
        )
    return text
