"""The README's results table, made from the shipped models' cards (never typed in).

    python scripts/readme_results.py            # print the table
    python scripts/readme_results.py --write    # replace the table between the markers in README.md

tests/test_readme.py checks that README.md holds exactly what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fer_lib.pretrained import (
    ENSEMBLE_WEIGHTS,
    batchnorm_recomputed,
    describe,
    experiments,
    fine_tuned_from,
    pretrained_info,
    shipped_names,
)

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- results: made by scripts/readme_results.py -->", "<!-- /results -->"
ORDER = ("report_cnn", "simple_cnn", "fer_vgg_s", "fer_vgg")  # then every other shipped name, sorted


def _spread(card: dict, key: str) -> str:
    s = (card.get("seed_summary") or {}).get(key)
    return f"{s['mean']:.3f} ± {s['sd']:.3f}" if s and s.get("sd") is not None else "one seed"


def table() -> str:
    rows = [
        "| model | what it is | seeds | PrivateTest, seed mean ± sd | ten-crop, seed mean ± sd "
        "| shipped model: PublicTest | PrivateTest | flip | ten-crop |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = [n for n in ORDER if pretrained_info(n)] + [n for n in shipped_names() if n not in ORDER]
    for name in names:
        card = pretrained_info(name)
        pub, priv = card["metrics"]["PublicTest"], card["metrics"]["PrivateTest"]
        rows.append(
            f"| `{name}` | {describe(name)} | {card.get('seeds', 1)} | "
            f"{_spread(card, 'PrivateTest')} "
            f"| {_spread(card, 'PrivateTest ten-crop')} | {pub['accuracy']:.3f} | {priv['accuracy']:.3f} "
            f"| {priv['accuracy_flip']:.3f} | {priv['accuracy_tencrop']:.3f} |"
        )
    notes = [""]
    recomputed = [f"`{n}`" for n in names if batchnorm_recomputed(n)]
    if recomputed:
        notes.append(
            f"The seed means are of the weights as trained; the shipped {' and '.join(recomputed)} had their "
            "BatchNorm statistics recomputed on all Training images afterwards (kept because PublicTest "
            "rose)."
        )
    for name in names:
        origin = fine_tuned_from(name)
        if origin:
            card = pretrained_info(name)
            how = " on faces made photo-like" if card["config"].get("photo") else ""
            member = (
                f": one of the default's members for photos (below), in `{origin}`'s place"
                if ENSEMBLE_WEIGHTS.get(name) and not ENSEMBLE_WEIGHTS.get(origin)
                else ""
            )
            notes.append(
                f"`{name}` is the shipped `{origin}` trained further{how} (one seed; its card has the recipe)"
                f"{member}."
            )
    for name in names:
        card = pretrained_info(name) or {}
        teacher = (card.get("config") or {}).get("teacher")
        if not teacher:
            continue
        plain = [
            (max(h["val_acc"] for h in r["history"]), r.get("name") or r.get("run"))
            for r in experiments(name)
            if not (r.get("config") or {}).get("teacher") and r.get("history")
        ]
        best = (
            " with the original's loss alone, the best recorded run reached a PublicTest accuracy of "
            f"{max(plain)[0]:.3f} "
            f"(`{max(plain)[1]}`, one seed)"
            if plain
            else ""
        )
        notes.append(
            f"The shipped `{name}` was trained with soft targets from `{teacher}` (distillation) besides "
            "the labels;"
            f"{best}."
        )
    return "\n".join([BEGIN, *rows, *notes, END])


def main() -> int:
    text = table()
    if "--write" not in sys.argv[1:]:
        print(text)
        return 0
    readme = README.read_text()
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    README.write_text(readme[:start] + text + readme[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
