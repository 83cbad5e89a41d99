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


def shipped_kwargs(name: str) -> dict:
    """The keyword arguments the shipped weights of ``name`` were built with ({} when none ship)."""
    from fer_lib.pretrained import pretrained_info

    card = pretrained_info(name)
    return dict(card["config"].get("model_kwargs", {})) if card else {}


def text_values() -> dict:
    """The chapter's glued values: its answer, and simple_cnn's head and parameter counts."""
    from IPython.display import Markdown

    from fer_lib.pretrained import pretrained_info

    from .prose import first_sentence

    answer = conclusion(facts("report_cnn"))
    kwargs = shipped_kwargs("simple_cnn")
    heads = {
        h: summary_totals(summary_rows(build_model("simple_cnn", head=h)))["total"] for h in ("gap", "dense")
    }
    return {
        "q1_answer": Markdown(answer),
        "q1_finding": first_sentence(answer),
        "sc_head": kwargs.get("head", "gap"),
        "sc_gap_total": f"{heads['gap']:,}",
        "sc_dense_total": f"{heads['dense']:,}",
        "sc_conv_share": f"{facts('simple_cnn', **kwargs)['conv_share']:.0%}",
        "sc_source": "the shipped weights"
        if pretrained_info("simple_cnn")
        else "no shipped weights (the default head)",
    }
