"""Q3: which expressions the model confuses, and why."""

from __future__ import annotations

from typing import Any

import numpy as np

from fer_lib.data import CLASSES

# Why a face of one expression is read as another: what the true expression shares with the
# predicted one, or lacks, in the face's movements (FACS action units, Ekman & Friesen). A pair
# and its reverse have their own reasons: what makes fear read as sad is not what makes sad read
# as fear. These are facts about faces, not about a run.
_REASONS = {
    ("fear", "sad"): "a frightened face often shows the raised inner brows of sadness, and with the mouth "
    "closed and the gaze lowered nothing else sets it apart",
    (
        "sad",
        "fear",
    ): "a sad face's raised, drawn-together inner brows are half of fear's brow movement, and a "
    "grimacing sad mouth looks stretched",
    ("angry", "sad"): "a lowered, drawn-together brow with a pressed or down-turned mouth is shared by both; "
    "without glaring eyes the anger is gone",
    ("sad", "angry"): "a sad face with a strong frown lowers the brows the way anger does",
    (
        "sad",
        "neutral",
    ): "a mild sad face differs from a neutral one only by slightly lowered mouth corners and "
    "raised inner brows, a few pixels at 48x48",
    (
        "neutral",
        "sad",
    ): "a relaxed face with naturally down-turned mouth corners or heavy eyelids looks slightly sad",
    (
        "fear",
        "surprise",
    ): "both raise the brows and open the eyes and mouth wide; only fear's tense, stretched lips differ",
    (
        "surprise",
        "fear",
    ): "a surprised face with tension around the mouth shows fear's open eyes and raised brows",
    ("angry", "fear"): "a shouting face opens the mouth and tenses the eyes as a scream does",
    ("fear", "angry"): "a tense, frowning fear face lowers the brows toward anger's",
    ("angry", "neutral"): "a mild frown is a small change from a neutral face at this resolution",
    ("neutral", "angry"): "a neutral face with low, straight brows reads as a mild frown",
    (
        "disgust",
        "angry",
    ): "disgust lowers the brows and tightens the face as anger does; its wrinkled nose and "
    "raised upper lip barely show at 48x48",
    ("angry", "disgust"): "an angry face with a raised upper lip or wrinkled nose shows disgust's marks",
    ("fear", "neutral"): "a subdued fear face keeps most of a neutral face's geometry",
    ("neutral", "fear"): "wide-open eyes on an otherwise still face look startled",
    ("happy", "neutral"): "a closed-mouth, faint smile changes only the mouth corners",
    ("neutral", "happy"): "a relaxed face with slightly raised mouth corners looks like a faint smile",
    ("surprise", "happy"): "an open mouth with raised cheeks reads as laughter",
    ("happy", "surprise"): "a laughing face opens the mouth and raises the brows as surprise does",
    ("disgust", "sad"): "both turn the mouth down and narrow the eyes",
    ("sad", "disgust"): "a sad face with a raised upper lip and narrowed eyes looks disgusted",
}


def explain_pair(true: str, predicted: str) -> str:
    """Why a ``true`` face may be read as ``predicted`` (direction matters)."""
    return _REASONS.get(
        (true, predicted),
        f"a mild {true} face keeps few of the movements that set it apart from {predicted} at 48x48 pixels",
    )


def error_spread(cm: np.ndarray) -> dict[str, float]:
    """How scattered each class's mistakes are: the entropy of its row's off-diagonal counts, in bits.

    0 when all of a class's misread faces go to one other class; log2(6) = 2.58 when they spread
    evenly over the six others. (A reading of the original's "fear's variance is the highest".)
    """
    cm = np.asarray(cm, dtype=float)
    out = {}
    for i, c in enumerate(CLASSES):
        wrong = np.delete(cm[i], i)
        p = wrong[wrong > 0] / wrong.sum() if wrong.sum() else np.array([1.0])
        out[c] = float(-(p * np.log2(p)).sum())
    return out


def original_claims(cm: np.ndarray) -> dict:
    """The original report's three claims on its confusion matrix, tested on ``cm``.

    It wrote that fear and angry are easily misread, that both are most often read as sad, and that
    fear's "variance" is the highest. Returned: each class's recall and most frequent wrong class,
    the two classes with the lowest recall, the class whose mistakes spread most (``error_spread``),
    and whether each claim holds.
    """
    from fer_lib.evaluate import per_class_metrics

    cm = np.asarray(cm)
    recall = {c: v["recall"] for c, v in per_class_metrics(cm).items()}
    wrong_as = {}
    for i, c in enumerate(CLASSES):
        row = cm[i].astype(float).copy()
        row[i] = -1
        wrong_as[c] = (CLASSES[int(row.argmax())], int(row.max()), int(cm[i].sum() - cm[i, i]))
    lowest = sorted(recall, key=recall.get)[:2]
    spread = error_spread(cm)
    widest = max(spread, key=spread.get)
    return {
        "recall": recall,
        "wrong_as": wrong_as,
        "lowest_recall": lowest,
        "spread": spread,
        "widest_spread": widest,
        "fear_and_angry_misread": set(lowest) == {"fear", "angry"},
        "both_mostly_sad": wrong_as["fear"][0] == "sad" and wrong_as["angry"][0] == "sad",
        "fear_spreads_most": widest == "fear",
    }


def describe_claims(claims: dict) -> str:
    """Markdown: each of the original's claims, confirmed or refuted with this run's numbers."""
    r, w = claims["recall"], claims["wrong_as"]
    low = claims["lowest_recall"]
    ranked = sorted(r, key=r.get)
    rank = {c: ranked.index(c) + 1 for c in ranked}

    def verdict(ok: bool) -> str:
        return "**Confirmed.**" if ok else "**Not confirmed.**"

    def wrong(c: str) -> str:
        p, n, total = w[c]
        return f"{c} faces are read as {p} most often ({n} of its {total} misread faces)"

    spread = claims["spread"]
    return "\n".join(
        [
            f"- *Fear and angry are the most often misread.* {verdict(claims['fear_and_angry_misread'])} "
            f"The two lowest recalls are {low[0]} ({r[low[0]]:.2f}) and {low[1]} ({r[low[1]]:.2f}); fear "
            "ranks "
            f"{rank['fear']} of 7 ({r['fear']:.2f}) and angry {rank['angry']} of 7 ({r['angry']:.2f}).",
            f"- *Both are most often mistaken for sad.* {verdict(claims['both_mostly_sad'])} "
            f"{wrong('fear').capitalize()}; {wrong('angry')}.",
            f"- *Fear's \"variance\" is the highest.* Read as how widely a class's mistakes scatter over the "
            f"other classes (the entropy of its misread faces, 0 to 2.58 bits): "
            f"{verdict(claims['fear_spreads_most'])} fear's is {spread['fear']:.2f} bits; the widest is "
            f"{claims['widest_spread']}'s ({spread[claims['widest_spread']]:.2f}).",
        ]
    )


def describe_confusions(cm: np.ndarray, train_counts: dict[str, int] | None = None, k: int = 3) -> str:
    """Markdown: the most confused pairs of this run, the weakest and strongest classes, and why."""
    from fer_lib.evaluate import most_confused, per_class_metrics

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
            f"({train_counts[rare] / total:.1%} of Training), so its recall of {recall[rare]:.2f} rests on "
            "little evidence."
        )
    sad_pred = np.asarray(cm)[:, CLASSES.index("sad")]
    top_into_sad = [CLASSES[i] for i in np.argsort(sad_pred)[::-1] if CLASSES[i] != "sad"][:2]
    lines.append("")
    lines.append(
        f"Faces wrongly called **sad** come mostly from {top_into_sad[0]} and {top_into_sad[1]} "
        f"({sad_pred[CLASSES.index(top_into_sad[0])]} and {sad_pred[CLASSES.index(top_into_sad[1])]} faces)."
    )
    return "\n".join(lines)


def conclusion(cm: np.ndarray, model: str, claims: dict) -> str:
    """Two sentences that open the chapter: the best and worst classes and the top confusion, and how
    many of the original's claims hold."""
    from fer_lib.evaluate import most_confused

    r = claims["recall"]
    best, worst = max(r, key=r.get), min(r, key=r.get)
    t, p, n, share = most_confused(np.asarray(cm), 1)[0]
    held = [
        name
        for name, ok in (
            ("fear and angry are the most misread", claims["fear_and_angry_misread"]),
            ("both are mostly mistaken for sad", claims["both_mostly_sad"]),
            ("fear's mistakes scatter most", claims["fear_spreads_most"]),
        )
        if ok
    ]
    return (
        f"{model} recognises {best} faces best (recall {r[best]:.2f}) and {worst} faces worst "
        f"({r[worst]:.2f}); "
        f"its most frequent mistake is reading {t} as {p} ({n} faces, {share:.0%} of the {t} faces). "
        f"Of the original report's three claims about its matrix, {len(held)} "
        f"hold{'s' if len(held) == 1 else ''} "
        f"here{': ' + '; '.join(held) if held else ''}."
    )


def text_values(result: dict, model: str, split: str, train_counts: dict[str, int]) -> dict:
    """The chapter's glued values: its answer, the original's claims held against ``result``, the
    confusions and why, and the accuracy and size of the split."""
    from IPython.display import Markdown

    from .prose import first_sentence

    cm = np.asarray(result["confusion_matrix"])
    claims = original_claims(cm)
    answer = conclusion(cm, model, claims)
    return {
        "q3_answer": Markdown(answer),
        "q3_finding": first_sentence(answer),
        "q3_claims": Markdown(describe_claims(claims)),
        "q3_details": Markdown(describe_confusions(cm, train_counts)),
        "q3_acc": f"{result['accuracy']:.4f}",
        "q3_n": f"{result['n']:,}",
        "q3_split": split,
    }


def per_class_table(result: dict):
    """Precision, recall, F1 and support per class, formatted for the page."""
    import pandas as pd

    table = pd.DataFrame(result["per_class"]).T.astype({"support": int})
    return table.style.format({"precision": "{:.3f}", "recall": "{:.3f}", "f1": "{:.3f}", "support": "{:,}"})


def confused_faces(
    probabilities: np.ndarray, labels: np.ndarray, cm: np.ndarray, rank: int, k: int = 8
) -> tuple[np.ndarray, str, str, int]:
    """The ``rank``-th most frequent confusion (0: the first): the indices of its faces the model was
    surest of (at most ``k``), most sure first, and the true class, predicted class and its count."""
    from fer_lib.evaluate import most_confused

    true, predicted, n, _share = most_confused(np.asarray(cm), rank + 1)[rank]
    ti, pi = CLASSES.index(true), CLASSES.index(predicted)
    pred = probabilities.argmax(1)
    idx = np.flatnonzero((labels == ti) & (pred == pi))
    return idx[np.argsort(-probabilities[idx, pi])][:k], true, predicted, n


def confusion_examples(
    probabilities: np.ndarray, images: np.ndarray, labels: np.ndarray, cm: np.ndarray, rank: int
):
    """A row of the faces of the ``rank``-th most frequent confusion, each with the probability of the
    wrong class."""
    from .figures import face_grid

    idx, true, predicted, n = confused_faces(probabilities, labels, cm, rank)
    pi = CLASSES.index(predicted)
    return face_grid(
        images[idx],
        [f"p({predicted})={probabilities[i, pi]:.2f}" for i in idx],
        ncols=8,
        suptitle=f"true {true}, predicted {predicted} ({n} faces)",
    )


# --------------------------------------------------------------------------- the chapter as written

CHAPTER = "q3_confusion"

# What the chapter's text says about report_cnn's confusion matrix on PrivateTest. The text is written
# for these findings; ``check_claims`` stops a run whose matrix says otherwise, so that a sentence
# turned false is never printed.
WRITTEN = {
    "best": "happy",  # the highest recall
    "worst": "fear",  # the lowest recall
    "lowest_two": {"fear", "disgust"},  # the original's "fear and angry" claim therefore fails
    "top_tied": {("sad", "neutral"), ("fear", "sad")},  # the two largest off-diagonal cells, equal
    "third": ("neutral", "sad"),
    "sinks": {"sad", "neutral"},  # the two classes that receive the most wrong predictions
    "both_mostly_sad": True,  # fear's and angry's most frequent wrong class is sad
    "widest_tied": {"fear", "happy"},  # the two widest-spread classes, within TIE_BITS of each other
    "rare": "disgust",  # the class with the fewest Training faces
    "rare_mostly_as": "angry",  # where more than half of the rare class's misread faces go
    "largest": "happy",  # the class with the most Training faces
    "lopsided": ("fear", "sad"),  # read one way more than twice as often as the other way round, toward
    # the class with more Training faces
    "third_and_fourth": ("angry", "sad"),  # the third and fourth lowest recalls
    "sinks_share": 0.5,  # "half of all its mistakes" go to the sinks: within SHARE_SLACK of a half
}
SHARE_SLACK = 0.05
ALIKE = 0.1  # two classes whose Training counts differ by less than this share are "about equally common"
TIE_BITS = 0.01  # two spreads closer than this are reported as equal (the text gives two decimals)


def wrong_received(cm: np.ndarray) -> dict[str, int]:
    """How many faces of other classes the model called each class: the column sums off the diagonal."""
    cm = np.asarray(cm)
    return {c: int(cm[:, i].sum() - cm[i, i]) for i, c in enumerate(CLASSES)}


def confusion_findings(cm: np.ndarray, train_counts: dict[str, int]) -> dict:
    """What the text reads off the matrix: recalls, the largest off-diagonal cells, the classes that
    receive most wrong predictions, the original's claims, and the rarest class in Training."""
    from fer_lib.evaluate import most_confused

    cm = np.asarray(cm)
    claims = original_claims(cm)
    recall = claims["recall"]
    ranked = sorted(recall, key=recall.get)
    spread = claims["spread"]
    widest = sorted(spread, key=spread.get, reverse=True)
    received = wrong_received(cm)
    sinks = sorted(received, key=received.get, reverse=True)
    return {
        "recall": recall,
        "best": ranked[-1],
        "worst": ranked[0],
        "lowest_two": set(ranked[:2]),
        "top": most_confused(cm, 3),
        "received": received,
        "sinks": set(sinks[:2]),
        "claims": claims,
        "widest": widest[:2],
        "widest_gap": spread[widest[0]] - spread[widest[1]],
        "rare": min(train_counts, key=train_counts.get),
    }


def check_claims(cm: np.ndarray, train_counts: dict[str, int], said: dict = WRITTEN) -> dict:
    """Hold the chapter's sentences (``said``) to the matrix; return the findings, or raise
    ``ClaimFailed`` naming the first sentence that would be false."""
    from .claims import hold

    f = confusion_findings(cm, train_counts)
    top = [(t, p) for t, p, _, _ in f["top"]]
    counts = [n for _, _, n, _ in f["top"]]
    hold(f["best"] == said["best"], CHAPTER, f"{said['best']} has the highest recall", f"{f['best']}")
    hold(f["worst"] == said["worst"], CHAPTER, f"{said['worst']} has the lowest recall", f"{f['worst']}")
    hold(
        f["lowest_two"] == said["lowest_two"],
        CHAPTER,
        f"the two lowest recalls are {said['lowest_two']}",
        f"{f['lowest_two']}",
    )
    hold(
        set(top[:2]) == said["top_tied"] and counts[0] == counts[1],
        CHAPTER,
        f"the two most frequent confusions are {said['top_tied']}, tied",
        f"{f['top'][:2]}",
    )
    hold(top[2] == said["third"], CHAPTER, f"the third is {said['third']}", f"{f['top'][2]}")
    hold(
        f["sinks"] == said["sinks"],
        CHAPTER,
        f"{said['sinks']} receive the most wrong predictions",
        f"{f['received']}",
    )
    hold(
        f["claims"]["both_mostly_sad"] == said["both_mostly_sad"],
        CHAPTER,
        "that fear and angry are most often read as sad",
        f"{f['claims']['wrong_as']}",
    )
    hold(
        set(f["widest"]) == said["widest_tied"] and f["widest_gap"] < TIE_BITS,
        CHAPTER,
        f"that {said['widest_tied']} spread their mistakes the widest, equally to two decimals",
        f"{f['widest']} apart by {f['widest_gap']:.3f} bits",
    )
    check_evidence(cm, train_counts, f, said)
    return f


def check_evidence(cm: np.ndarray, train_counts: dict[str, int], f: dict, said: dict = WRITTEN) -> None:
    """The evidence the chapter gives for why (``check_claims``' second half): the rarest and largest
    classes in Training, where the rare class's mistakes go, the recalls above the lowest two, how much of
    the mistakes the sinks receive and how alike their sizes are, and the one-way confusion."""
    from .claims import hold

    hold(f["rare"] == said["rare"], CHAPTER, f"{said['rare']} has the fewest Training faces", f["rare"])
    to, n, wrong = f["claims"]["wrong_as"][said["rare"]]
    hold(
        to == said["rare_mostly_as"] and 2 * n > wrong,
        CHAPTER,
        f"that most misread {said['rare']} faces are read as {said['rare_mostly_as']}",
        f"{n} of {wrong} read as {to}",
    )
    by_size = sorted(train_counts, key=train_counts.get, reverse=True)
    hold(
        by_size[0] == said["largest"] and set(by_size[1:3]) == said["sinks"],
        CHAPTER,
        f"that {said['largest']} is the largest class in Training and {said['sinks']} the next two",
        f"{by_size[:3]}",
    )
    ranked = sorted(f["recall"], key=f["recall"].get)
    hold(
        tuple(ranked[2:4]) == said["third_and_fourth"],
        CHAPTER,
        f"that the third and fourth lowest recalls are {said['third_and_fourth']}",
        f"{ranked[2:4]}",
    )
    share = sum(f["received"][c] for c in said["sinks"]) / max(sum(f["received"].values()), 1)
    hold(
        abs(share - said["sinks_share"]) < SHARE_SLACK,
        CHAPTER,
        f"that {said['sinks']} receive about {said['sinks_share']:.0%} of the mistakes",
        f"{share:.0%}",
    )
    one, other = sorted(train_counts[c] for c in said["sinks"])
    hold(
        other - one < ALIKE * other,
        CHAPTER,
        f"that {said['sinks']} are about equally common in Training",
        f"{one:,} and {other:,}",
    )
    a, b = (CLASSES.index(c) for c in said["lopsided"])
    hold(
        train_counts[said["lopsided"][1]] > train_counts[said["lopsided"][0]],
        CHAPTER,
        f"that {said['lopsided'][1]} has more Training faces than {said['lopsided'][0]}",
        f"{train_counts}",
    )
    cm = np.asarray(cm)
    hold(
        cm[a, b] > 2 * cm[b, a],
        CHAPTER,
        f"that {said['lopsided'][0]} is read as {said['lopsided'][1]} over twice as often as the reverse",
        f"{cm[a, b]} against {cm[b, a]}",
    )


def class_table(result: dict, train_counts: dict[str, int]) -> Any:
    """Per class, as Markdown to paste in a numbered ``{table}``: its faces in Training (and their share),
    its faces in the split, precision, recall and F1."""
    import pandas as pd
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    total = sum(train_counts.values())
    per = result["per_class"]
    frame = pd.DataFrame(
        {
            "Training faces": [f"{train_counts[c]:,}" for c in CLASSES],
            "share of Training": [f"{train_counts[c] / total:.1%}" for c in CLASSES],
            "faces in the split": [f"{int(per[c]['support']):,}" for c in CLASSES],
            "precision": [f"{per[c]['precision']:.2f}" for c in CLASSES],
            "recall": [f"{per[c]['recall']:.2f}" for c in CLASSES],
            "F1": [f"{per[c]['f1']:.2f}" for c in CLASSES],
        },
        index=pd.Index(CLASSES, name="class"),
    )
    return Markdown(pipe_table(frame))


def confusion_table(cm: np.ndarray, train_counts: dict[str, int], k: int = 3) -> Any:
    """The ``k`` most frequent confusions, as Markdown to paste in a numbered ``{table}``: the faces, their
    share of the true class, the same confusion the other way round, and both classes' Training faces."""
    import pandas as pd
    from IPython.display import Markdown

    from fer_lib.evaluate import most_confused

    from .pipe_tables import pipe_table

    cm = np.asarray(cm)
    rows = []
    for t, p, n, share in most_confused(cm, k):
        ti, pi = CLASSES.index(t), CLASSES.index(p)
        rows.append(
            {
                "true → predicted": f"{t} → {p}",
                "faces": f"{n:,}",
                "share of the true class": f"{share:.0%}",
                "the other way round": f"{int(cm[pi, ti]):,} ({cm[pi, ti] / max(cm[pi].sum(), 1):.0%})",
                "Training faces, true / predicted": f"{train_counts[t]:,} / {train_counts[p]:,}",
            }
        )
    return Markdown(pipe_table(pd.DataFrame(rows).set_index("true → predicted")))


def pair_examples(
    probabilities: np.ndarray, images: np.ndarray, labels: np.ndarray, true: str, predicted: str, k: int = 8
) -> Any:
    """The ``k`` faces of class ``true`` that the model called ``predicted`` most surely, each with that
    probability."""
    from .figures import face_grid

    ti, pi = CLASSES.index(true), CLASSES.index(predicted)
    idx = np.flatnonzero((labels == ti) & (probabilities.argmax(1) == pi))
    idx = idx[np.argsort(-probabilities[idx, pi])][:k]
    return face_grid(
        images[idx],
        [f"p({predicted})={probabilities[i, pi]:.2f}" for i in idx],
        ncols=k,
        suptitle=f"true {true}, predicted {predicted}",
    )


def chapter_values(
    result: dict, split: str, train_counts: dict[str, int], checked: bool = True
) -> dict[str, str]:
    """The numbers the chapter's text reads, by glue name, after ``check_claims`` has held its sentences
    to this run's matrix (where ``checked``: the text is about FER2013, not about generated faces)."""
    cm = np.asarray(result["confusion_matrix"])
    f = check_claims(cm, train_counts) if checked else confusion_findings(cm, train_counts)
    r, received, claims = f["recall"], f["received"], f["claims"]
    mistakes = int(cm.sum() - np.trace(cm))
    total = sum(train_counts.values())

    def cell(true: str, predicted: str) -> int:
        return int(cm[CLASSES.index(true), CLASSES.index(predicted)])

    def share(true: str, predicted: str) -> str:
        return f"{cell(true, predicted) / max(int(cm[CLASSES.index(true)].sum()), 1):.0%}"

    values = {
        "q3_split": split,
        "q3_n": f"{result['n']:,}",
        "q3_acc": f"{result['accuracy']:.4f}",
        "q3_mistakes": f"{mistakes:,}",
        "q3_top_n": f"{f['top'][0][2]:,}",
        "q3_sad_neutral_share": share("sad", "neutral"),
        "q3_fear_sad_share": share("fear", "sad"),
        "q3_third_n": f"{cell('neutral', 'sad'):,}",
        "q3_third_share": share("neutral", "sad"),
        "q3_sad_fear_n": f"{cell('sad', 'fear'):,}",
        "q3_sinks_share": f"{(received['sad'] + received['neutral']) / max(mistakes, 1):.0%}",
        "q3_sad_received": f"{received['sad']:,}",
        "q3_neutral_received": f"{received['neutral']:,}",
        "q3_happy_received": f"{received['happy']:,}",
        "q3_happy_train": f"{train_counts['happy']:,}",
        "q3_disgust_train": f"{train_counts['disgust']:,}",
        "q3_disgust_train_share": f"{train_counts['disgust'] / total:.1%}",
        "q3_disgust_n": f"{int(cm[CLASSES.index('disgust')].sum()):,}",
        "q3_disgust_angry": f"{cell('disgust', 'angry'):,}",
        "q3_disgust_wrong": f"{claims['wrong_as']['disgust'][2]:,}",
        "q3_fear_sad_n": f"{cell('fear', 'sad'):,}",
        "q3_fear_wrong": f"{claims['wrong_as']['fear'][2]:,}",
        "q3_angry_sad_n": f"{cell('angry', 'sad'):,}",
        "q3_angry_wrong": f"{claims['wrong_as']['angry'][2]:,}",
        "q3_spread_fear": f"{claims['spread']['fear']:.2f}",
        "q3_spread_happy": f"{claims['spread']['happy']:.2f}",
    }
    values |= {f"q3_recall_{c}": f"{v:.2f}" for c, v in r.items()}
    return values
