"""The command line: ``python -m fer_lib`` (or ``fer-lib``), a thin layer over the library."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, FerError, Note
from .names import METHODS, TTA_MODES


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence, exit 2, no usage dump
        self.exit(2, f"fer-lib: error: {message} (see --help).\n")


def _data_info(a: argparse.Namespace) -> int:
    from .data import load_fer2013

    data = load_fer2013(a.path, val_fraction=a.val_fraction, seed=a.seed, resize=a.resize)
    counts = data.counts()
    if a.json:
        row = {"format": data.layout, "total": len(data), "counts": counts, "hash": data.data_hash()}
        if data.origin:
            row["copy_hash"] = data.fingerprint()
        print(json.dumps(row))
        return 0
    part = f" (a copy of some of its splits, whose own hash is {data.fingerprint()})" if data.origin else ""
    print(f"{a.path}: layout {data.layout}, {len(data):,} images, data hash {data.data_hash()}{part}")
    classes = list(next(iter(counts.values())).keys())
    print(f"{'split':<12}" + "".join(f"{c:>9}" for c in classes) + f"{'total':>9}")
    for s, row in counts.items():
        print(f"{s:<12}" + "".join(f"{row[c]:>9,}" for c in classes) + f"{sum(row.values()):>9,}")
    return 0


def _data_pack(a: argparse.Namespace) -> int:
    import os

    from .checks import new_file
    from .data import load_fer2013, write_packed

    if not Path(a.out).is_dir():  # a folder in its place is write_packed's to refuse
        new_file(a.out, "the packed copy", force=a.force, inputs=(a.path,))
    data = load_fer2013(a.path, val_fraction=a.val_fraction, seed=a.seed, resize=a.resize)
    header = write_packed(data, a.out, splits=tuple(a.splits) if a.splits else None)
    size = os.path.getsize(a.out)
    part = (
        f" (a copy of some of its splits, whose own hash is {header['fingerprint']})"
        if header["origin"] != header["fingerprint"]
        else ""
    )
    print(
        f"{a.out}: {header['n']:,} images ({', '.join(header['splits'])}), {size / 2**20:.1f} MiB, "
        f"data hash {header['origin']}{part}"
    )
    return 0


def _summary(a: argparse.Namespace) -> int:
    from .models import summary

    print(summary(a.model))
    return 0


def _models(a: argparse.Namespace) -> int:
    from .models import REGISTRY
    from .pretrained import batchnorm_recomputed, describe, pretrained_info, shipped_names

    rows = []
    for name in sorted(REGISTRY) + [n for n in shipped_names() if n not in REGISTRY]:
        info = pretrained_info(name)
        rows.append(
            {
                "name": name,
                "description": describe(name),
                "pretrained": info is not None,
                "metrics": (info or {}).get("metrics"),
                "seeds": (info or {}).get("seeds"),
                "seed_summary": (info or {}).get("seed_summary"),
                "model_kwargs": info["config"].get("model_kwargs", {}) if info else None,
                "batchnorm_recomputed": batchnorm_recomputed(name) if info else None,
            }
        )
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        shipped = "pretrained weights ship" if r["pretrained"] else "no pretrained weights"
        print(f"{r['name']:<16} {r['description']} [{shipped}]")
        if r["model_kwargs"]:
            print(
                f"{'':<16}   the weights are of the model built with "
                + ", ".join(f"{k}={v!r}" for k, v in r["model_kwargs"].items())
            )
        for split, m in (r["metrics"] or {}).items():
            print(
                f"{'':<16}   {split}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in m.items() if isinstance(v, float))
            )
        if r["seed_summary"]:
            print(
                f"{'':<16}   over {r['seeds']} seeds (mean ± sd): "
                + ", ".join(
                    f"{k} {v['mean']:.4f} ± {v['sd']:.4f}"
                    for k, v in r["seed_summary"].items()
                    if v["sd"] is not None
                )
                + (" (the weights as trained)" if r["batchnorm_recomputed"] else "")
            )
        elif r["pretrained"]:
            print(f"{'':<16}   one seed: no spread measured")
        if r["batchnorm_recomputed"]:
            print(f"{'':<16}   BatchNorm statistics recomputed on Training after the epoch was chosen")
    from .pretrained import DEFAULT_MODEL, ENSEMBLE_WEIGHTS, PRIOR_ALPHA

    print(
        f"\nthe default for photos (predict, read_expressions): {DEFAULT_MODEL}, shipped models' softmax "
        "averaged ("
        + ", ".join(f"{n} {w:g}" for n, w in ENSEMBLE_WEIGHTS.items() if w)
        + "): the best balanced accuracy on a development set of real web photos among the single models "
        "and ensembles, with and without flip TTA, that keep PrivateTest at least as high as report_cnn "
        "(docs/DEVSET.md); FER2013's class prior divided out to the power "
        f"{PRIOR_ALPHA:g} (--prior), since the power PublicTest chooses, 1.05, reads those photos worse"
    )
    return 0


def _recipe_of(like: str) -> dict:
    """The config, config_changes and history of a pretrained model's card or of a run folder."""
    from .models import checkpoint_meta
    from .pretrained import pretrained_info

    path = Path(like)
    last = path / "last.pt" if path.is_dir() else path
    if last.is_file():
        return checkpoint_meta(last)
    card = pretrained_info(like)
    if card is None:
        raise ConfigError(
            f"--like {like}: neither a run folder with last.pt, a checkpoint file, nor a pretrained model."
        )
    return card


def _replay(a: argparse.Namespace) -> int:
    from .data import load_fer2013
    from .replay import replay

    given = [flag for dest, (flag, default) in a.recipe_options.items() if getattr(a, dest) != default]
    if given:
        raise ConfigError(f"--like takes the whole recipe from {a.like}; drop {', '.join(given)}.")
    recipe = _recipe_of(a.like)
    data = load_fer2013(a.data, val_fraction=a.val_fraction, seed=a.seed, resize=a.resize)
    if recipe.get("data_hash") not in (None, data.data_hash()):
        print(
            f"fer-lib: note: {a.like} was trained on data {recipe['data_hash']}, this is {data.data_hash()}; "
            "the replay is not a seed run of it.",
            file=sys.stderr,
        )
    runtime = {"device": a.device, "progress": a.progress}
    if a.bf16 is False:
        runtime["bf16"] = False
    history = replay(
        recipe, data, a.out, seed=a.seed, stop_after=a.stop_after, runtime=runtime, force=a.force
    )
    print(
        f"{len(history)} of {len(recipe['history'])} epochs of the {recipe['config']['model']} recipe "
        f"(seed {a.seed}); checkpoints and history in {a.out}"
    )
    return 0


def _key_values(pairs: list[str] | None, flag: str, example: str, parse: Any) -> dict:
    """KEY=VALUE pairs of a repeatable option as a dict, each VALUE through ``parse``; one sentence for a bad
    pair."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"{flag} takes KEY=VALUE (for example {flag} {example}), not '{pair}'.")
        try:
            out[key] = parse(value)
        except ValueError:
            raise ConfigError(
                f"{flag} {pair}: the value is not valid (write numbers as 2, lists as [a, b], text as is)."
            ) from None
    return out


def _model_args(pairs: list[str] | None) -> dict:
    """--model-arg KEY=VALUE pairs as keyword arguments: VALUE read as JSON where it parses, else as text."""

    def parse(value: str) -> Any:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value

    return _key_values(pairs, "--model-arg", "head=dense", parse)


def _train(a: argparse.Namespace) -> int:
    from .data import load_fer2013
    from .pretrained import training_models
    from .train import TrainConfig, train

    if a.force and a.resume:
        raise ConfigError(
            f"--force and --resume contradict each other: --force replaces the run in {a.out}, --resume "
            "continues it; pass only one."
        )
    if a.resume and not (Path(a.out) / "last.pt").is_file():
        raise ConfigError(
            f"--resume: {a.out} holds no run to resume (no last.pt); leave out --resume to start a new run "
            "there."
        )
    if a.like:
        return _replay(a)
    missing = [flag for dest, flag in a.required_options.items() if getattr(a, dest) is None]
    if missing:
        raise ConfigError(f"train needs {' and '.join(missing)} (or --like NAME_OR_RUN to replay a recipe).")
    settings = {f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig) if hasattr(a, f.name)}
    cfg = TrainConfig(**{**settings, "model_kwargs": _model_args(a.model_kwargs)})
    data = load_fer2013(a.data, val_fraction=a.val_fraction, seed=a.seed, resize=a.resize)
    init, teacher = training_models(cfg, data)
    history = train(
        cfg, data, a.out, resume=a.resume, stop_after=a.stop_after, force=a.force, init=init, teacher=teacher
    )
    if history:
        last = history[-1]
        print(
            f"epoch {last['epoch']}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k not in ("epoch",))
        )
    print(f"checkpoints and history in {a.out}")
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    import warnings

    from .checks import output_file
    from .data import load_fer2013
    from .device import resolve_device
    from .evaluate import evaluate_split
    from .pretrained import load_model
    from .rundir import best_mismatch, recorded_val_acc

    given = Path(a.checkpoint)
    if a.save_predictions is not None:
        output_file(
            a.save_predictions, (".npz",), "--save-predictions", force=a.force, inputs=(a.checkpoint, a.data)
        )

    # a run folder must hold its own best epoch; a checkpoint file is taken as it is, with a note
    def disagrees(problem: str) -> None:
        if given.is_dir():
            raise ConfigError(f"{problem}; pass {given / 'best.pt'} to evaluate those weights as they are.")
        warnings.warn(f"{problem}.", Note, stacklevel=2)

    device = resolve_device(a.device)
    model, meta = load_model(a.checkpoint, device=device)
    run = given if given.is_dir() else given.parent if given.name == "best.pt" else None
    problem = best_mismatch(run, meta) if run is not None else None
    if problem:
        disagrees(problem)
    data = load_fer2013(a.data, val_fraction=a.val_fraction, seed=a.seed, resize=a.resize)
    comparable = (a.split, a.tta, a.without_copies, meta.get("data_hash")) == (
        "PublicTest",
        "none",
        False,
        data.data_hash(),
    )
    recorded = recorded_val_acc(meta)

    def check(res: dict) -> None:  # before --save-predictions is written: a refused run leaves no file
        if comparable and recorded is not None and abs(res["accuracy"] - recorded) > max(0.01, 3 / res["n"]):
            disagrees(
                f"{given} gives PublicTest accuracy {res['accuracy']:.4f} here, but its history recorded "
                f"{recorded:.4f} for epoch {meta['epoch']}: the weights are not the ones that epoch saved"
            )

    res = evaluate_split(
        model,
        data,
        a.split,
        device=device,
        tta=a.tta,
        save_to=a.save_predictions,
        without_copies_of=("Training",) if a.without_copies else (),
        check=check,
    )
    if a.json:
        print(json.dumps(res))
        return 0
    left_out = (
        f"; {res['copies_left_out']:,} faces that also appear in Training left out"
        if a.without_copies
        else ""
    )
    print(
        f"{a.split}: accuracy {res['accuracy']:.4f} on {res['n']:,} images (loss {res['loss']:.4f}, TTA "
        f"{res['tta']}{left_out})"
    )
    print(f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}")
    for c, m in res["per_class"].items():
        print(f"{c:<10}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{m['support']:>9}")
    return 0


def _detect_flag(a: argparse.Namespace) -> bool | None:
    return False if a.no_detect else None


def _face_line(i: int, face: Any) -> str:
    x, y, w, h = face.box
    top = sorted(face.probabilities.items(), key=lambda kv: -kv[1])
    return (
        f"  face {i} at x {x}, y {y}, {w}x{h}: {face.expression} {face.probabilities[face.expression]:.3f}  ("
        + ", ".join(f"{c} {v:.3f}" for c, v in top[1:])
        + ")"
    )


NO_FACE = "no face found; if the image is a face cropped beforehand, pass --no-detect"


def _drawn_in(images: list[str], folder: Path, force: bool) -> dict[str, Path]:
    """Where predict draws each of several photos: FOLDER/NAME.png, one file for each, none replaced
    without --force."""
    from .checks import new_file

    targets: dict[str, Path] = {}
    for path in images:
        target = folder / (Path(path).stem + ".png")
        other = next((p for p, t in targets.items() if t == target), None)
        if other is not None:
            raise ConfigError(
                f"{other} and {path} would both be drawn as {target}; give the photos different names, or "
                "draw them into separate -o folders."
            )
        targets[path] = new_file(target, "-o", force=force, inputs=images)
    return targets


def _prior(a: argparse.Namespace) -> float:
    """--prior, or the power the library uses for the model named (fer_lib.photos.default_prior)."""
    from .checks import number
    from .photos import default_prior

    if a.prior is None:
        return default_prior(a.model)
    return number("--prior", a.prior, 0.0, 5.0, hint="0 turns the class-prior correction off")


def _predict(a: argparse.Namespace) -> int:
    from .checks import output_dir, output_file
    from .device import resolve_device
    from .errors import DataError
    from .photos import annotate_file, classify_faces, locate_faces
    from .pretrained import load_model

    if a.video is not None:
        return _predict_video(a)
    if not a.images:
        raise ConfigError("predict needs image files, or --video PATH|CAMERA_INDEX.")
    if a.output and len(a.images) > 1:
        targets = _drawn_in(a.images, output_dir(a.output, "-o"), a.force)
    elif a.output:
        targets = {
            a.images[0]: output_file(a.output, FIGURE_SUFFIXES[:3], "-o", force=a.force, inputs=a.images)
        }
    prior = _prior(a)
    device = resolve_device(a.device)
    model, _ = load_model(a.model, device=device)
    rows, failed = [], 0
    for path in a.images:
        try:
            faces = locate_faces(path, _detect_flag(a))[1]  # the gray photo let go before it is drawn
        except DataError as e:
            rows.append({"image": path, "faces": [], "error": str(e)})
            failed += 1
            continue
        classify_faces(faces, model, tta=a.tta, device=device, prior=prior)
        row = {"image": path, "faces": faces}
        if not faces:
            row["error"] = f"{path}: {NO_FACE}."
            failed += 1
        if a.output and faces:
            annotate_file(path, faces, targets[path])  # the photo held once, in colour, drawn in place
            row["annotated"] = str(targets[path])
        rows.append(row)
    if a.json:
        print(json.dumps([{**r, "faces": [f.to_json() for f in r["faces"]]} for r in rows], indent=1))
    else:
        for r in rows:
            if r.get("error"):
                continue
            n = len(r["faces"])
            print(
                f"{r['image']}: {n} face{'s' if n != 1 else ''}"
                + (f", drawn in {r['annotated']}" if "annotated" in r else "")
            )
            for i, f in enumerate(r["faces"], 1):
                print(_face_line(i, f))
    for r in rows:
        if r.get("error"):
            print(f"fer-lib: error: {r['error']}", file=sys.stderr)
    return 2 if failed else 0


def _predict_video(a: argparse.Namespace) -> int:
    import csv
    import io

    from .checks import integer, number, output_file
    from .device import resolve_device
    from .errors import DataError
    from .files import write_text
    from .photos import VideoTruncated, classify_faces, locate_faces, video_frames
    from .pretrained import load_model

    if a.images:
        raise ConfigError("give either image files or --video, not both.")
    number("--every", a.every, 0, low_open=True, hint="seconds between the frames read")
    if a.max_frames is not None:
        integer("--max-frames", a.max_frames, 1, "leave it out to read the whole video")
    source: str | int = int(a.video) if a.video.isdigit() else a.video
    inputs = () if isinstance(source, int) else (a.video,)
    out = output_file(a.output, (".csv", ".json"), "-o", force=a.force, inputs=inputs) if a.output else None
    prior = _prior(a)
    device = resolve_device(a.device)
    model, _ = load_model(a.model, device=device)
    rows, truncated = [], None
    try:
        for n, (index, t, frame) in enumerate(video_frames(source, a.every)):
            if a.max_frames is not None and n >= a.max_frames:
                break
            faces = classify_faces(
                locate_faces(frame, _detect_flag(a))[1], model, tta=a.tta, device=device, prior=prior
            )
            when = {"frame": index, "seconds": round(t, 3)}
            rows += [
                {
                    **when,
                    "face": i,
                    "box": list(f.box),
                    "expression": f.expression,
                    **{c: round(p, 4) for c, p in f.probabilities.items()},
                }
                for i, f in enumerate(faces)
            ]
            if not faces:
                rows.append({**when, "face": None, "box": None, "expression": None})
            if out is None and not a.json:
                print(
                    f"frame {index} ({t:.1f} s): "
                    + (
                        ", ".join(f"{f.expression} {f.probabilities[f.expression]:.2f}" for f in faces)
                        or "no face"
                    ),
                    flush=True,
                )
    except KeyboardInterrupt:
        pass
    except VideoTruncated as e:  # what was read is kept, and the run fails
        truncated = e
    if out is not None and out.suffix.lower() == ".csv":
        from .data import CLASSES

        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fieldnames=["frame", "seconds", "face", "box", "expression", *CLASSES])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "box": " ".join(map(str, r["box"])) if r["box"] else ""})
        write_text(out, text.getvalue())
    elif out is not None:
        write_text(out, json.dumps(rows, indent=1))
    elif a.json:
        print(json.dumps(rows, indent=1))
    frames = len({r["frame"] for r in rows})
    found = len({r["frame"] for r in rows if r["face"] is not None})
    if truncated is not None:
        kept = f"the results of the {frames} frames read are in {out}" if out else "the frames read are shown"
        raise DataError(f"{str(truncated).rstrip('.')}; {kept}.")
    print(
        f"{frames} frames read, a face in {found}" + (f"; results in {out}" if out else ""), file=sys.stderr
    )
    return 0


FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def explain_output(path: str, force: bool = False, inputs: Sequence[str] = ()) -> Path:
    """Where explain writes its figure: a name without an extension gets .png (and says so)."""
    from .checks import output_file

    p = Path(path)
    if not p.suffix and not p.is_dir():
        p = p.with_name(p.name + ".png")
    return output_file(p, FIGURE_SUFFIXES, "-o", force=force, inputs=inputs)


def _explain(a: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from .data import CLASSES
    from .device import resolve_device
    from .files import save_figure
    from .photos import classify_faces, explain_faces, explanation_figure, locate_faces
    from .pretrained import load_model

    output = explain_output(a.output, a.force, inputs=(a.image,))
    if a.target is not None and a.target not in CLASSES:
        raise ConfigError(f"unknown --target '{a.target}'; expected one of {', '.join(CLASSES)}.")
    device = resolve_device(a.device)
    model, _ = load_model(a.model, device=device)
    gray, faces = locate_faces(a.image, _detect_flag(a))
    if not faces:
        raise ConfigError(f"{a.image}: {NO_FACE}.")
    classify_faces(faces, model, device=device)
    heat = explain_faces(gray, faces, model, a.method, target=a.target, device=device)
    fig = explanation_figure(gray, faces, heat, a.method)
    save_figure(fig, output, dpi=150, bbox_inches="tight")
    for i, f in enumerate(faces, 1):
        cls = a.target or f.expression
        print(f"{a.image}: face {i}: {a.method} map for '{cls}' (p = {f.probabilities[cls]:.3f})")
    print(f"written to {output}")
    return 0


def _export(a: argparse.Namespace) -> int:
    from .checks import output_file
    from .export import OnnxModel, compare, export_onnx
    from .pretrained import load_model
    from .synthetic import synthetic_fer

    out = output_file(a.onnx, (".onnx",), "--onnx", force=a.force, inputs=(a.model,))
    model, meta = load_model(a.model, device="cpu")
    export_onnx(model, out, name=meta.get("model", a.model))
    faces = synthetic_fer(
        64, 0, 0, seed=0
    ).images  # a quick check; tests/test_export.py checks FER2013's PrivateTest
    check = compare(model, OnnxModel(out), faces)
    print(
        f"{out}: {meta.get('model', a.model)} as ONNX ({out.stat().st_size / 2**20:.1f} MiB); on "
        f"{check['faces']} faces "
        f"onnxruntime and torch differ in {check['classes_differ']} classes, probabilities by at most "
        f"{check['max_probability_gap']:.1e}"
    )
    return 0


def _ship(a: argparse.Namespace) -> int:
    """Shipping models and keeping records: the maintainer's steps of docs/MAINTAINING.md."""
    from . import ship as P
    from .data import load_fer2013
    from .pretrained import PRETRAINED_DIR

    dest = PRETRAINED_DIR if a.package else Path(a.dest)  # the parser asks for one of the two
    if a.ship_command == "retire":
        record = P.retire_pretrained(
            a.name, a.question, note=a.note, source=dest, dest=dest / "experiments", force=a.force
        )
        print(f"{a.name}'s shipped run is kept as the experiment record {record['run']}")
        return 0
    data = load_fer2013(a.data)
    if a.ship_command == "export":
        card = P.export_pretrained(
            a.run, data, name=a.name, dest=dest, seed_runs=tuple(a.seed_runs or ()), force=a.force
        )
    elif a.ship_command == "add-seeds":
        card = P.add_seed_runs(a.name, tuple(a.runs), data, dest=dest)
    elif a.ship_command == "batchnorm":
        entry = P.recompute_shipped_batchnorm(a.name, data, dest=dest)
        print(
            f"{a.name}: BatchNorm statistics recomputed on Training; PublicTest "
            f"{entry['PublicTest before']['accuracy']:.4f} "
            f"-> {entry['PublicTest after']['accuracy']:.4f}; {'kept' if entry['kept'] else 'not kept'}"
        )
        return 0
    elif a.ship_command == "record":
        record = P.record_experiment(
            a.run, data, a.question, note=a.note, dest=dest / "experiments", force=a.force
        )
        print(
            f"recorded {record['run']}: best PublicTest "
            f"{max(h.get('val_acc', 0) for h in record['history']):.4f} over {len(record['history'])} epochs"
        )
        return 0
    else:  # predictions
        preds = P.record_predictions(a.name, data, dest=dest)
        print(f"{a.name}: predictions stored for {', '.join(preds)}")
        return 0
    m = card["metrics"]
    print(
        f"shipped {getattr(a, 'name', None) or card['model']}: PublicTest "
        f"{m['PublicTest']['accuracy']:.4f}, PrivateTest {m['PrivateTest']['accuracy']:.4f} "
        f"(ten-crop {m['PrivateTest']['accuracy_tencrop']:.4f}), {card.get('seeds', 1)} seed(s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fer-lib", description="FER2013 data, models, training and evaluation.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (
        _add_data,
        _add_models,
        _add_train,
        _add_evaluate,
        _add_predict,
        _add_explain,
        _add_ship,
        _add_export,
    ):
        add(sub)
    return p


def _data_options(sp: argparse.ArgumentParser) -> None:
    """How a data set is read: the NTU hold-out's share and seed, and image-folder resizing."""
    sp.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="held-out share for an NTU train.csv (no Usage column)",
    )
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--resize", action="store_true", help="scale image-folder images that are not 48x48")


def _add_data(sub: Any) -> None:
    """``data info`` and ``data pack``."""
    d = sub.add_parser("data", help="inspect a data set")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    di = dsub.add_parser("info", help="detected layout and counts per split and class")
    di.add_argument("path")
    di.add_argument("--json", action="store_true")
    _data_options(di)
    di.set_defaults(func=_data_info)
    dp = dsub.add_parser(
        "pack", help="a compact lossless copy (*.fer.xz) that any command reads like the CSV"
    )
    dp.add_argument("path")
    dp.add_argument("out", help="the file to write, named *.fer.xz")
    dp.add_argument(
        "--splits",
        nargs="+",
        choices=["Training", "PublicTest", "PrivateTest"],
        help="keep only these splits (say Training PublicTest for a training machine)",
    )
    dp.add_argument("--force", action="store_true", help="replace OUT if it exists")
    _data_options(dp)
    dp.set_defaults(func=_data_pack)


def _add_models(sub: Any) -> None:
    """``summary`` and ``models``."""
    s = sub.add_parser("summary", help="Keras-style table of a model")
    s.add_argument("model")
    s.set_defaults(func=_summary)

    m = sub.add_parser("models", help="registered models and shipped weights")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_models)


def _add_train(sub: Any) -> None:
    """``train``: the run's files and resuming, then one option per training setting (``fer_lib.recipe``)."""
    t = sub.add_parser("train", help="train a model (validation on PublicTest)")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True, help="run folder: last.pt, best.pt, history.json")
    t.add_argument(
        "--like",
        metavar="NAME_OR_RUN",
        help="replay the recipe of a pretrained model or a run folder, every phase as it ran, with --seed; "
        "the recipe options below are then taken from it",
    )
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    t.add_argument("--force", action="store_true", help="replace the run that --out already holds")
    t.add_argument(
        "--stop-after",
        type=int,
        default=None,
        metavar="N",
        help="end this call after N epochs (resume later)",
    )
    recipe, required = _training_options(t)
    _data_options(t)
    t.set_defaults(func=_train, recipe_options=recipe, required_options=required)


def _training_options(t: argparse.ArgumentParser) -> tuple[dict, dict]:
    """An option for each setting that ``TrainConfig`` declares, spelt as its declaration says.

    Returned: the recipe's options as {dest: (flag, default)}, which ``--like`` refuses, and the options
    the command line must be given without ``--like``, as {dest: flag}."""
    from .recipe import RUNTIME_KEYS, TrainConfig

    recipe, required = {}, {}
    for f in dataclasses.fields(TrainConfig):
        cli = dict(f.metadata["cli"])
        if cli.pop("hidden", False):
            continue
        flag = cli.pop("flag", "--" + f.name.replace("_", "-"))
        must = cli.pop("required", False)
        default = None if must or f.default is dataclasses.MISSING else f.default
        help = f.metadata["help"] + (" (not with --like)" if must else "")
        t.add_argument(flag, dest=f.name, default=default, help=help, **cli)
        if f.name not in RUNTIME_KEYS:
            recipe[f.name] = (flag, default)
        if must:
            required[f.name] = flag
    return recipe, required


def _add_evaluate(sub: Any) -> None:
    """``evaluate``."""
    e = sub.add_parser("evaluate", help="accuracy and per-class metrics on a split")
    e.add_argument("checkpoint", help="a checkpoint path or a pretrained model name")
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="PublicTest")
    e.add_argument("--tta", default="none", help=", ".join(TTA_MODES))
    e.add_argument("--device", default="auto")
    e.add_argument("--json", action="store_true")
    e.add_argument("--save-predictions", default=None, metavar="NPZ", help="write logits and labels here")
    e.add_argument("--force", action="store_true", help="replace the --save-predictions file if it exists")
    e.add_argument(
        "--without-copies",
        action="store_true",
        help="leave out the faces whose exact pixels also appear in Training (about 8%% of PrivateTest)",
    )
    _data_options(e)
    e.set_defaults(func=_evaluate)


def _add_predict(sub: Any) -> None:
    """``predict``: photos, a video or a camera."""
    pr = sub.add_parser("predict", help="the expression of every face in photos, a video or a camera")
    pr.add_argument(
        "images", nargs="*", help="photos (faces are found in them) or cropped faces (96 px or less a side)"
    )
    pr.add_argument(
        "--model",
        default="ensemble",
        help="a pretrained model name, 'ensemble' (the default, chosen on real photos: `fer-lib models`), "
        "a checkpoint or a run folder",
    )
    pr.add_argument("--tta", default="none", help=", ".join(TTA_MODES))
    pr.add_argument(
        "--prior",
        type=float,
        default=None,
        metavar="ALPHA",
        help="divide the probabilities by FER2013 Training's class frequencies to this power (0: off; "
        "default: the power stored for the default ensemble, 0 for another model; `fer-lib models`)",
    )
    pr.add_argument("--device", default="auto")
    pr.add_argument("--json", action="store_true")
    pr.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="the photo with boxes and labels (.png/.jpg; a folder for several photos); "
        "with --video, a .csv or .json of per-frame results",
    )
    pr.add_argument("--force", action="store_true", help="replace files that -o would write if they exist")
    pr.add_argument(
        "--no-detect",
        action="store_true",
        help="classify each whole image as one face (faces cropped beforehand)",
    )
    pr.add_argument("--video", metavar="PATH|N", help="a video file, or a camera index such as 0")
    pr.add_argument(
        "--every", type=float, default=0.5, metavar="SECONDS", help="read one video frame every SECONDS (0.5)"
    )
    pr.add_argument(
        "--max-frames",
        type=int,
        default=None,
        metavar="N",
        help="stop after N frames read (a camera runs until Ctrl-C)",
    )
    pr.set_defaults(func=_predict)


def _add_explain(sub: Any) -> None:
    """``explain``."""
    ex = sub.add_parser("explain", help="an attribution map of each face in a photo, drawn on the photo")
    ex.add_argument("image")
    # occlusion: of the attribution methods, the one the report's saliency chapter finds both tied to
    # what the model learned (the randomisation test) and faithful (deletion and insertion); integrated
    # gradients fails the first
    ex.add_argument(
        "--method",
        default="occlusion",
        choices=METHODS,
        help="attribution method (default: occlusion)",
    )
    ex.add_argument("-o", "--output", required=True, help="the figure to write (.png, .jpg, .pdf or .svg)")
    ex.add_argument("--force", action="store_true", help="replace the -o file if it exists")
    ex.add_argument(
        "--model", default="report_cnn", help="a pretrained model name, a checkpoint or a run folder"
    )
    ex.add_argument("--target", default=None, help="class to explain (default: each face's predicted one)")
    ex.add_argument(
        "--no-detect",
        action="store_true",
        help="explain the whole image as one face (a face cropped beforehand)",
    )
    ex.add_argument("--device", default="auto")
    ex.set_defaults(func=_explain)


def _add_ship(sub: Any) -> None:
    """``ship``: the maintainers' commands."""
    sh = sub.add_parser("ship", help="maintainers: ship a trained run, add seeds, keep experiment records")
    ssub = sh.add_subparsers(dest="ship_command", required=True, parser_class=_Parser)

    def ship_args(sp: argparse.ArgumentParser, data: bool = True, force: str = "") -> None:
        if data:
            sp.add_argument("--data", required=True, help="FER2013 (the data the runs were trained on)")
        where = sp.add_mutually_exclusive_group(required=True)  # the package is written only by name
        where.add_argument("--dest", default=None, help="the folder of cards and weights to write")
        where.add_argument(
            "--package",
            action="store_true",
            help="write into the installed fer_lib package's own pretrained/ folder (what a release ships)",
        )
        if force:
            sp.add_argument("--force", action="store_true", help=f"replace {force} of the same name")

    se = ssub.add_parser(
        "export", help="ship the run (or the seed run) with the best PublicTest accuracy, with its card"
    )
    se.add_argument("run", help="a run folder")
    se.add_argument("--seed-runs", nargs="+", metavar="RUN", help="runs of the same recipe with other seeds")
    se.add_argument("--name", default=None, help="ship under this name (default: the run's model)")
    ship_args(se, force="the shipped weights and card")
    sa = ssub.add_parser(
        "add-seeds", help="add --like replays to a shipped card whose own run folder is gone"
    )
    sa.add_argument("name")
    sa.add_argument("runs", nargs="+")
    ship_args(sa)
    sb = ssub.add_parser(
        "batchnorm", help="recompute a shipped model's BatchNorm statistics; kept only if PublicTest rises"
    )
    sb.add_argument("name")
    ship_args(sb)
    sr = ssub.add_parser(
        "record", help="keep a run that did not ship as an experiment record (no weights, no PrivateTest)"
    )
    sr.add_argument("run")
    sr.add_argument("--question", required=True, help="what the run was to find out")
    sr.add_argument("--note", default="", help="what else a reader should know (why it stopped, say)")
    ship_args(sr, force="an earlier record")
    st = ssub.add_parser(
        "retire", help="keep a shipped model's run as a record before another recipe replaces it"
    )
    st.add_argument("name")
    st.add_argument("--question", required=True)
    st.add_argument("--note", default="")
    ship_args(st, data=False, force="an earlier record")
    sp_ = ssub.add_parser("predictions", help="store a shipped model's test-split predictions in its card")
    sp_.add_argument("name")
    ship_args(sp_)
    sh.set_defaults(func=_ship)


def _add_export(sub: Any) -> None:
    """``export``: ONNX."""
    xp = sub.add_parser("export", help="write a model as ONNX, for onnxruntime (needs the export extra)")
    xp.add_argument("model", help="a pretrained model name, a checkpoint or a run folder")
    xp.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the file to write")
    xp.add_argument("--force", action="store_true", help="replace the --onnx file if it exists")
    xp.set_defaults(func=_export)


def _say(kind: str, message: object) -> None:
    """One line on stderr; what a file put into the message cannot move the cursor or ring the bell."""
    from .checks import printable

    print(f"fer-lib: {kind}: {printable(str(message), limit=2000)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    parser = build_parser()
    a = parser.parse_args(argv)
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
        if issubclass(category, Note):  # the library's notes read as one line each
            _say("note", message)
        else:
            shown(message, category, *args, **kw)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            return a.func(a)
        except FerError as e:
            _say("error", e)
            return 2
        except KeyboardInterrupt:
            print("fer-lib: interrupted.", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return 0
        except OSError as e:  # a file the user named could not be read or written
            where = f"{e.filename}: " if e.filename else ""
            _say("error", f"{where}{e.strerror or e}.")
            return 2


if __name__ == "__main__":
    sys.exit(main())
