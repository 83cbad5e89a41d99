"""Q1: the model's architecture against the original report's Keras summary."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fer_lib.models import LayerRow, build_model, summary_rows, summary_totals

from .claims import hold

CHAPTER = "q1_architecture"

# The original report's Keras summary of its CNN: total, trainable and non-trainable parameters.
ORIGINAL_PARAMS = {"total": 319_975, "trainable": 318_055, "non_trainable": 1_920}


def facts(name: str = "report_cnn", **kwargs) -> dict:
    """Parameter counts of a registered model: totals, the dense and conv shares, the largest layer."""
    rows = summary_rows(build_model(name, **kwargs))
    tot = summary_totals(rows)
    dense = sum(r.params for r in rows if r.name.startswith("Dense"))
    conv = sum(r.params for r in rows if r.name.startswith("Conv2D"))
    biggest = max(rows, key=lambda r: r.params)
    return {
        "rows": rows,
        **tot,
        "dense_share": dense / tot["total"],
        "conv_share": conv / tot["total"],
        "biggest": (biggest.name, biggest.params),
        "matches_original": {k: tot[k] for k in ORIGINAL_PARAMS} == ORIGINAL_PARAMS,
    }


def shipped_kwargs(name: str) -> dict:
    """The keyword arguments the shipped weights of ``name`` were built with ({} when none ship)."""
    from fer_lib.pretrained import pretrained_info

    card = pretrained_info(name)
    return dict(card["config"].get("model_kwargs", {})) if card else {}


def layer_table(model: Any) -> Any:
    """A model's Keras-style summary as Markdown to paste in a numbered ``{table}``: one row per layer
    (its output shape channels-last, its parameters), then the total, trainable and non-trainable counts."""
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    rows = summary_rows(model)
    totals = summary_totals(rows)
    shape = ["(" + ", ".join("None" if d is None else str(d) for d in r.shape) + ")" for r in rows]
    frame = pd.DataFrame(
        {
            "layer": [r.name for r in rows] + ["total", "trainable", "not trainable"],
            "output shape": shape + ["", "", ""],
            "parameters": [f"{r.params:,}" for r in rows]
            + [f"{totals[k]:,}" for k in ("total", "trainable", "non_trainable")],
        },
        index=pd.RangeIndex(len(rows) + 3),
    ).set_index("layer")
    return Markdown(pipe_table(frame))


def dense_head_first_share(rows: list[LayerRow]) -> float:
    """The first dense layer's share of all the model's parameters."""
    first = next(r for r in rows if r.name.startswith("Dense"))
    return first.params / summary_totals(rows)["total"]


def check_claims(rc: dict, sc_dense: dict) -> None:
    """What the chapter's text says about the counts: report_cnn's match the original's Keras summary,
    its dense layers hold most of its parameters and its largest layer is a dense one; simple_cnn's dense
    head puts most of its parameters in its first dense layer. ``ClaimFailed`` where one is false."""
    hold(
        rc["matches_original"],
        CHAPTER,
        f"that report_cnn's counts are the original's {ORIGINAL_PARAMS}",
        f"{ {k: rc[k] for k in ORIGINAL_PARAMS} }",
    )
    hold(
        rc["dense_share"] > 0.5,
        CHAPTER,
        "that most of report_cnn's parameters are in its dense layers",
        f"a share of {rc['dense_share']:.0%}",
    )
    hold(
        rc["biggest"][0].startswith("Dense"),
        CHAPTER,
        "that report_cnn's largest layer is a dense one",
        f"{rc['biggest'][0]}",
    )
    first = dense_head_first_share(sc_dense["rows"])
    hold(
        first > 0.5,
        CHAPTER,
        "that most of simple_cnn's dense-head parameters sit in its first dense layer",
        f"a share of {first:.0%}",
    )


def text_values() -> dict:
    """The chapter's glued values, after its claims are checked: report_cnn's counts and shares, and
    simple_cnn's head and counts."""
    from fer_lib.pretrained import pretrained_info

    rc = facts("report_cnn")
    hold(pretrained_info("simple_cnn") is not None, CHAPTER, "that simple_cnn's weights ship", "none")
    kwargs = shipped_kwargs("simple_cnn")
    heads = {h: facts("simple_cnn", head=h) for h in ("gap", "dense")}
    check_claims(rc, heads["dense"])
    shipped = facts("simple_cnn", **kwargs)
    return {
        "q1_total": f"{rc['total']:,}",
        "q1_trainable": f"{rc['trainable']:,}",
        "q1_non_trainable": f"{rc['non_trainable']:,}",
        "q1_dense_share": f"{rc['dense_share']:.0%}",
        "q1_conv_share": f"{rc['conv_share']:.0%}",
        "q1_biggest": rc["biggest"][0],
        "q1_biggest_params": f"{rc['biggest'][1]:,}",
        "sc_head": kwargs.get("head", "gap"),
        "sc_gap_total": f"{heads['gap']['total']:,}",
        "sc_dense_total": f"{heads['dense']['total']:,}",
        "sc_dense_first_share": f"{dense_head_first_share(heads['dense']['rows']):.0%}",
        "sc_conv_share": f"{shipped['conv_share']:.0%}",
    }
