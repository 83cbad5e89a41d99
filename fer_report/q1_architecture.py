"""Q1: the model's architecture against the original report's Keras summary."""

from __future__ import annotations

from fer_lib.models import build_model, summary_rows, summary_totals

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


def conclusion(f: dict) -> str:
    """Two sentences that open the chapter."""
    match = (
        "exactly the original report's Keras summary"
        if f["matches_original"]
        else "which does NOT match the original report's Keras summary (319,975 / 318,055 / 1,920)"
    )
    return (
        f"report_cnn has {f['total']:,} parameters, {f['trainable']:,} trainable and {f['non_trainable']:,} "
        "not "
        f"(BatchNorm's running statistics): {match}. The two dense layers hold {f['dense_share']:.0%} of "
        "them and "
        f"the four convolutions {f['conv_share']:.0%}; the largest single layer is {f['biggest'][0]} with "
        f"{f['biggest'][1]:,}."
    )
