"""Build the development set of real expression photos from a local copy of muxspace/facial_expressions.

    git clone https://github.com/muxspace/facial_expressions /path/to/facial_expressions
    git -C /path/to/facial_expressions checkout 5fb9c13afac07c55eae8d25eb6b50af344ad60c9
    python scripts/build_devset.py /path/to/facial_expressions ~/fer-devset

Writes ``OUT/<class>/<file>`` under FER2013's seven class names, ``OUT/manifest.csv`` (file, label,
source path, source label, labeller, sha256) and ``OUT/devset.json`` (source commit, settings, counts). The
labels come from the source's ``data/legend.csv``; its ``test/`` folder is never read (it has no
labels there, and part of it is posed studio photos that the project keeps held out). docs/DEVSET.md
says how the labels map and why each photo is left out.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from fer_lib.checks import integer, output_dir
from fer_lib.data import CLASSES
from fer_lib.errors import ConfigError, DataError, FerError

REPO = Path(__file__).resolve().parents[1]
SOURCE_URL = "https://github.com/muxspace/facial_expressions"
SOURCE_COMMIT = "5fb9c13afac07c55eae8d25eb6b50af344ad60c9"  # the commit docs/DEVSET.md measured
LEGEND = Path("data/legend.csv")
# a second labeller's opinion on 500 of the legend's photos: where it names another class, the photo is
# ambiguous and left out
SECOND_OPINION = Path("data/500_picts_satz.csv")

# the source's labels (lower-cased) -> FER2013's classes; None: no FER2013 class, the photo is left out
LABEL_MAP: dict[str, str | None] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "sad": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
    "contempt": None,
}
PER_CLASS = 150  # the cap on a class: all of a smaller class is kept
SEED = 0
WRITTEN = (*CLASSES, "manifest.csv", "devset.json")  # what --force replaces in OUT, nothing else


def fer_class(label: str, where: str) -> str | None:
    """FER2013's class for a source label (None where there is none), or a DataError naming ``where``."""
    key = label.strip().lower()
    if key not in LABEL_MAP:
        known = ", ".join(sorted(LABEL_MAP))
        raise DataError(f"{where}: unknown expression label '{label}'; expected one of {known}.")
    return LABEL_MAP[key]


def read_labels(path: Path, has_header: bool) -> list[tuple[str, str, str, str | None]]:
    """(labeller, image file name, source label, FER2013 class) for every row of a label file."""
    # 500_picts_satz.csv ends its lines with a bare carriage return; newline="" lets csv read both kinds
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if has_header:
        rows = rows[1:]
    out = []
    for i, row in enumerate(rows, start=2 if has_header else 1):
        if not row:
            continue
        if len(row) != 3:
            raise DataError(f"{path}, row {i}: expected 3 fields (user, image, emotion), got {len(row)}.")
        out.append((row[0].strip(), row[1].strip(), row[2].strip(), fer_class(row[2], f"{path}, row {i}")))
    return out


def identity(name: str) -> str:
    """The person a photo shows, from its file name (``George_W_Bush_0001.jpg`` -> ``George_W_Bush``)."""
    return re.sub(r"_?\d+[a-z]?$", "", Path(name).stem) or Path(name).stem


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spread_sample(names: list[str], cap: int, rng: random.Random) -> list[str]:
    """At most ``cap`` of ``names``, taken in turn from each person (in a seeded order), so that a class
    with many photos of a few people is not filled by those few."""
    if len(names) <= cap:
        return sorted(names)
    by_person: dict[str, list[str]] = defaultdict(list)
    for n in sorted(names):
        by_person[identity(n)].append(n)
    people = sorted(by_person)
    rng.shuffle(people)
    for p in people:
        rng.shuffle(by_person[p])
    chosen: list[str] = []
    while len(chosen) < cap:
        for p in people:
            if by_person[p] and len(chosen) < cap:
                chosen.append(by_person[p].pop())
    return sorted(chosen)


def select(source: Path, per_class: int, seed: int) -> tuple[list[dict], dict]:
    """The photos to copy (dicts of file, label, source path, source label, sha256) and what was left out."""
    legend = source / LEGEND
    images = source / "images"
    if not legend.is_file() or not images.is_dir():
        raise DataError(
            f"{source} is not a copy of {SOURCE_URL}: expected {LEGEND} and images/ in it "
            "(clone the repository and pass its folder)."
        )
    dropped: Counter = Counter()
    labels: dict[str, set[str]] = defaultdict(set)
    source_label: dict[str, str] = {}
    labellers: dict[str, list[str]] = defaultdict(list)
    for who, name, raw, cls in read_labels(legend, has_header=True):
        if cls is None:
            dropped[f"label '{raw.lower()}' has no FER2013 class"] += 1
            continue
        labels[name].add(cls)
        source_label.setdefault(name, raw)
        if who not in labellers[name]:
            labellers[name].append(who)
    second = source / SECOND_OPINION
    if second.is_file():
        for _, name, _, cls in read_labels(second, has_header=False):
            if name in labels and cls not in labels[name]:
                labels[name].add(cls)  # two opinions: ambiguous, left out below
    # one class per photo: a photo labelled two ways by the legend or the second opinion is ambiguous
    photos: dict[str, str] = {}
    for name, classes in labels.items():
        if len(classes) > 1:
            dropped["labelled as two or more classes"] += 1
        elif not (images / name).is_file():
            dropped["listed but not in images/"] += 1
        else:
            photos[name] = next(iter(classes))
    # exact copies (same bytes): one is kept where their labels agree, none where they disagree
    by_hash: dict[str, list[str]] = defaultdict(list)
    for name in sorted(photos):
        by_hash[sha256(images / name)].append(name)
    kept: dict[str, str] = {}
    digest: dict[str, str] = {}
    for h, names in by_hash.items():
        if len({photos[n] for n in names}) > 1:
            dropped["exact copies labelled differently"] += len(names)
            continue
        if len(names) > 1:
            dropped["exact copy of another photo"] += len(names) - 1
        kept[names[0]], digest[names[0]] = photos[names[0]], h
    rng = random.Random(seed)
    by_class: dict[str, list[str]] = defaultdict(list)
    for name, cls in kept.items():
        by_class[cls].append(name)
    rows = []
    for cls in CLASSES:
        chosen = spread_sample(by_class[cls], per_class, rng)
        if len(chosen) < len(by_class[cls]):
            dropped[f"over the cap of {per_class} a class"] += len(by_class[cls]) - len(chosen)
        rows += [
            {
                "file": f"{cls}/{n}",
                "label": cls,
                "source_path": f"images/{n}",
                "source_label": source_label[n],
                "labeller": "+".join(labellers[n]),
                "sha256": digest[n],
            }
            for n in chosen
        ]
    available = {c: len(by_class[c]) for c in CLASSES}
    return rows, {"dropped": dict(sorted(dropped.items())), "available": available}


def source_commit(source: Path) -> str | None:
    """The source checkout's commit, or None where it is not a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def check_out(out: Path, source: Path, force: bool) -> Path:
    """The output folder, refused where it lies in the repository (but for data/) or the source, or is
    non-empty without ``force``."""
    out = out.resolve()
    for inside, what in ((REPO, "the repository"), (source.resolve(), "the source")):
        if out == inside or inside in out.parents:
            if inside == REPO and (REPO / "data") in (out, *out.parents):
                continue
            raise ConfigError(
                f"the output folder {out} is inside {what}; choose a folder outside it "
                f"(for example ~/fer-devset{', or one under data/' if inside == REPO else ''})."
            )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(
            f"the output folder {out} is not empty; choose a new folder or pass --force to replace "
            "its class folders and manifest."
        )
    return output_dir(out, "the output folder")


def build(source: Path, out: Path, per_class: int = PER_CLASS, seed: int = SEED, force: bool = False) -> dict:
    """Select, copy and describe the development set; returns what devset.json holds."""
    integer("--per-class", per_class, 1)
    source = Path(source)
    rows, info = select(source, per_class, seed)
    out = check_out(Path(out), source, force)
    for name in WRITTEN:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for r in rows:
        dst = out / r["file"]
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(source / r["source_path"], dst)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(
            fh, fieldnames=["file", "label", "source_path", "source_label", "labeller", "sha256"]
        )
        w.writeheader()
        w.writerows(rows)
    commit = source_commit(source)
    doc = {
        "source": SOURCE_URL,
        "commit": commit,
        "commit_is_documented": commit == SOURCE_COMMIT,
        "label_map": LABEL_MAP,
        "per_class": per_class,
        "seed": seed,
        "counts": dict(Counter(r["label"] for r in rows)),
        "total": len(rows),
        **info,
    }
    (out / "devset.json").write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="a local clone of muxspace/facial_expressions")
    ap.add_argument("out", type=Path, help="the folder to write (outside the repository, e.g. ~/fer-devset)")
    ap.add_argument("--per-class", type=int, default=PER_CLASS, help="cap on a class (default %(default)s)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the capped classes' sample")
    ap.add_argument("--force", action="store_true", help="replace the class folders and manifest in OUT")
    args = ap.parse_args(argv)
    try:
        doc = build(args.source, args.out, args.per_class, args.seed, args.force)
    except FerError as e:
        print(f"build_devset: error: {e}", file=sys.stderr)
        return 2
    if not doc["commit_is_documented"]:
        print(
            f"note: the source is at {doc['commit'] or 'an unknown commit'}, not {SOURCE_COMMIT} "
            "(docs/DEVSET.md's numbers are for that one)."
        )
    print(f"{doc['total']} photos in {args.out} from {doc['source']} @ {doc['commit']}")
    print("class      kept  available")
    for c in CLASSES:
        print(f"{c:<10} {doc['counts'].get(c, 0):>4}  {doc['available'][c]:>9}")
    print("left out:")
    for why, n in doc["dropped"].items():
        print(f"  {n:>5}  {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
