"""The reproducibility appendix: the environment and the chapter runs."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from fer_lib.data import FerData

from .runner import toc_notebooks
from .sources import cpu_model


def environment_info() -> dict[str, str]:
    """Library versions and the machine, for the reproducibility appendix."""
    import importlib.metadata as md

    import torch

    from fer_lib.device import cpu_has_fast_bf16

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


def notebook_runs(folder: str | Path, *fallbacks: str | Path) -> list[dict[str, Any]]:
    """Papermill's record (duration, parameters, exception) of each executed chapter in ``folder``.

    A chapter missing from ``folder`` is read from the first of ``fallbacks`` that has it: after
    a partial run (``--only``) that publishes into the book, the book's other chapters keep the
    record of the run that made them. ``folder`` says where each record came from. Paths (the data
    file, the folders) are shown by their last part: where they sat on the machine that ran the book is
    nobody else's business.
    """
    rows = []
    for nb in toc_notebooks():
        path = next((p for p in (Path(f) / nb.name for f in (folder, *fallbacks)) if p.exists()), None)
        if path is None:
            continue
        pm = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        rows.append(
            {
                "notebook": nb.name,
                "seconds": pm.get("duration"),
                "parameters": {
                    k: Path(v).name if isinstance(v, str) and "/" in v else v
                    for k, v in pm.get("parameters", {}).items()
                },
                "exception": pm.get("exception"),
                "start": pm.get("start_time"),
                "folder": path.parent.name,
            }
        )
    return rows


# --------------------------------------------------------------------------- what the chapter shows


def environment_table(data: FerData) -> Any:
    """The environment (``environment_info``) and the data the run read, one row each."""
    import pandas as pd

    env = environment_info()
    env["data"] = f"{len(data):,} faces, data hash {data.fingerprint()}"
    return pd.DataFrame(env, index=["version / value"]).T


def runs_table(folder: str | Path, *fallbacks: str | Path) -> Any:
    """The chapter runs (``notebook_runs``) as a table, one row a notebook; a column whose value is the same
    for every chapter (no exception, one folder) is left out, since the text says it once."""
    import pandas as pd

    runs = pd.DataFrame(notebook_runs(folder, *fallbacks))
    if not len(runs):
        return runs
    # a missing duration or exception can be NaN here, not None: pandas gave the column a numeric or text type
    runs["seconds"] = runs["seconds"].map(lambda s: f"{s:.0f}" if pd.notna(s) else "")
    runs["parameters"] = runs["parameters"].map(lambda p: ", ".join(f"{k}={v!r}" for k, v in p.items()))
    runs["exception"] = runs["exception"].map(lambda e: str(e) if pd.notna(e) else "")
    runs = runs.drop(columns=["start"]).set_index("notebook")
    if (runs["exception"] == "").all():
        runs = runs.drop(columns=["exception"])
    if runs["folder"].nunique() == 1:
        runs = runs.drop(columns=["folder"])
    return runs.style  # the style shows whole cells


def shipped_table() -> Any:
    """Every seed run of the shipped models (``records.shipped_runs``), styled, one row a run."""
    import pandas as pd

    from .records import shipped_runs
    from .tables import readable

    columns = ["model", "run", "seed", "epochs", "best epoch", "PublicTest", "PrivateTest"]
    columns += ["PrivateTest ten-crop", "shipped"]
    scores = {c: "{:.4f}" for c in ("PublicTest", "PrivateTest", "PrivateTest ten-crop")}
    shipped = pd.DataFrame(shipped_runs())[columns].set_index(["model", "run"])
    return readable(shipped).style.format(scores, na_rep="")


def experiments_table() -> Any:
    """The recorded experiments (``records.experiment_rows``), styled, one row a run; '' where none is
    recorded."""
    import pandas as pd

    from .records import experiment_rows
    from .tables import readable

    tried = pd.DataFrame(experiment_rows())
    if not len(tried):
        return ""
    columns = ["run", "model", "seed", "epochs", "best epoch", "best PublicTest", "question"]
    return readable(tried[columns].set_index("run")).style.format({"best PublicTest": "{:.4f}"})


def report_cnn_runs() -> Any:
    """PublicTest accuracy per epoch of the shipped report_cnn and of every recorded report_cnn experiment,
    with the original report's val_acc."""
    from fer_lib.pretrained import experiments, pretrained_info

    from .anchors import ORIGINAL_FINAL
    from .figures import validation_curves

    card = pretrained_info("report_cnn")
    curves = ({"shipped report_cnn": card["history"]} if card else {}) | {
        r["run"]: r["history"] for r in experiments("report_cnn")
    }
    return validation_curves(
        curves,
        target=ORIGINAL_FINAL["val_acc"],
        target_label="original report val_acc",
        title="report_cnn: PublicTest accuracy per epoch",
    )


def local_table(run_dir: str | Path) -> Any:
    """The run folders in ``run_dir`` (``records.local_runs``), one row a run, or a sentence where there are
    none."""
    import pandas as pd

    from .records import local_runs
    from .tables import readable

    local = pd.DataFrame(local_runs(run_dir))
    if not len(local):
        return f"No run folders in {run_dir}."
    return readable(local.drop(columns=["config", "data hash"]).set_index("run").round(4))


# --------------------------------------------------------------------------- the page as written (issue 51)

CHAPTER = "appendix"
VERSIONS = ("fer-lib", "torch", "captum", "numpy", "pandas", "matplotlib", "seaborn", "sympy", "papermill")
VERSIONS_BOOK = ("jupyter-book", "myst-nb")  # the book's build; its own environment may hold other ones


def _md(frame: Any, index: str = "") -> Any:
    from IPython.display import Markdown

    from .pipe_tables import pipe_table

    return Markdown(pipe_table(frame, index))


def versions_table() -> Any:
    """The versions a re-run depends on (Python and the libraries that compute or run the chapters), as
    Markdown for a numbered ``{table}``; a package this environment lacks reads 'not installed'."""
    import importlib.metadata as md

    import pandas as pd

    rows = {"python": platform.python_version()}
    for pkg in (*VERSIONS, *VERSIONS_BOOK):
        try:
            rows[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            rows[pkg] = "not installed"
    return _md(pd.DataFrame({"version": rows}), "package")


def minutes(seconds: float | None) -> str:
    """A run time in whole minutes, for a reader: '' where unknown, 'under 1' below a minute."""
    if seconds is None or seconds != seconds:  # None or NaN
        return ""
    return "under 1" if seconds < 60 else f"{round(seconds / 60):,}"


def _as_typed(value: Any) -> str:
    """A parameter's value as a reader types it after ``-p KEY=``: true/false, not Python's True/False."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_times_table(folder: str | Path, *fallbacks: str | Path) -> Any:
    """Each chapter's recorded run (``notebook_runs``) with a run time: its minutes and the parameters it was
    given, as Markdown for a numbered ``{table}``. A chapter still running (this page, while it runs) has no
    run time yet and is left out."""
    import pandas as pd

    rows = {
        Path(r["notebook"]).stem: {
            "minutes": minutes(r["seconds"]),
            "parameters": ", ".join(f"{k}={_as_typed(v)}" for k, v in r["parameters"].items()) or "none",
        }
        for r in notebook_runs(folder, *fallbacks)
        if minutes(r["seconds"])
    }
    if not rows:
        return _md(pd.DataFrame({"minutes": ["no chapter run recorded"]}, index=[""]), "chapter")
    return _md(pd.DataFrame(rows).T, "chapter")


def _four(v: float | None) -> str:
    """An accuracy to four decimals; '' where it was not measured."""
    return "" if v is None or v != v else f"{v:.4f}"


def shipped_runs_table() -> Any:
    """Every seed run of the shipped models (``records.shipped_runs``) as Markdown for a numbered
    ``{table}``: accuracies to four decimals, the shipped one marked."""
    import pandas as pd

    from .records import shipped_runs

    rows = pd.DataFrame(shipped_runs())
    shown = pd.DataFrame(
        {
            "model": rows["model"],
            "seed": rows["seed"].map(str),
            # one column for the epoch kept and the epochs trained keeps the table within a desktop page; its
            # no-break spaces keep "74 of 100" on one line
            "epoch kept, of": [f"{b}\u00a0of\u00a0{e}" for b, e in zip(rows["best epoch"], rows["epochs"])],
            "PublicTest": rows["PublicTest"].map(_four),
            "PrivateTest": rows["PrivateTest"].map(_four),
            "PrivateTest, ten-crop": rows["PrivateTest ten-crop"].map(_four),
            "shipped": rows["shipped"].map(lambda v: "yes" if v else ""),
        }
    )
    return _md(shown.set_index(rows["run"]), "run")


def experiment_tables() -> dict[str, Any]:
    """The recorded experiments (``records.experiment_rows``) as two Markdown tables for numbered
    ``{table}``s, one row a run in both: its numbers (seed, epochs, best epoch, best PublicTest), and the
    question it was run to answer."""
    import pandas as pd

    from .records import experiment_rows

    rows = pd.DataFrame(experiment_rows())
    if not len(rows):
        empty = pd.DataFrame({"": ["no experiments are recorded"]}, index=[""])
        return {"app_experiments_numbers": _md(empty, "run"), "app_experiments_questions": _md(empty, "run")}
    numbers = pd.DataFrame(
        {
            "model": rows["model"],
            "seed": rows["seed"].map(str),
            "epochs": rows["epochs"].map(str),
            "best epoch": rows["best epoch"].map(str),
            "best PublicTest": rows["best PublicTest"].map(lambda v: f"{v:.4f}"),
        }
    ).set_index(rows["run"])
    questions = pd.DataFrame({"question": rows["question"]}).set_index(rows["run"])
    return {
        "app_experiments_numbers": _md(numbers, "run"),
        "app_experiments_questions": _md(questions, "run"),
    }


def shipped_public(name: str, data: FerData) -> float | None:
    """The shipped model's PublicTest accuracy, measured from its weights on ``data`` (the run's shared
    measurement, ``fer_report.measured``); None where no weights of that name ship."""
    from fer_lib.pretrained import load_model, pretrained_info

    from .measured import measured

    if pretrained_info(name) is None:
        return None
    got = measured(load_model(name)[0], data, splits=("PublicTest",), views=("none",))
    return got["metrics"]["PublicTest"]["accuracy"]


def experiment_values(checked: bool = True, shipped: float | None = None) -> dict[str, str]:
    """The numbers the experiments' paragraph reads: how many runs are recorded, their range of best
    PublicTest accuracies, how many reach the original's val_acc and how many the shipped report_cnn's
    (``shipped``: its PublicTest accuracy, see ``shipped_public``). Where ``checked``, the paragraph's
    claim that every recorded experiment is of report_cnn is held."""
    from .anchors import ORIGINAL_FINAL
    from .claims import hold
    from .records import experiment_rows

    rows = experiment_rows()
    models = sorted({r["model"] for r in rows})
    if checked:
        hold(
            models == ["report_cnn"], CHAPTER, "that every recorded experiment is of report_cnn", f"{models}"
        )
    best = [r["best PublicTest"] for r in rows]
    target = ORIGINAL_FINAL["val_acc"]
    if checked:
        reach = sum(b >= target for b in best)
        hold(
            2 * reach < len(best),
            CHAPTER,
            "that most recorded runs stay under 0.6510",
            f"{reach} of {len(best)} reach it",
        )
    return {
        "app_n_experiments": str(len(rows)),
        "app_best_low": f"{min(best):.4f}" if best else "",
        "app_best_high": f"{max(best):.4f}" if best else "",
        "app_reach_target": str(sum(b >= target for b in best)),
        "app_shipped_public": "" if shipped is None else f"{shipped:.4f}",
        "app_over_shipped": "" if shipped is None else str(sum(b > shipped for b in best)),
    }


# the shipped-runs table's caption: these shipped models had their BatchNorm statistics recomputed after
# their seed runs were measured
BN_RECOMPUTED = ("fer_vgg", "fer_vgg_s")


def check_recomputed(said: tuple[str, ...] = BN_RECOMPUTED) -> None:
    """Hold the caption's list of shipped models whose BatchNorm statistics were recomputed to the cards."""
    from fer_lib.pretrained import batchnorm_recomputed, shipped_names

    from .claims import hold

    kept = [n for n in shipped_names() if batchnorm_recomputed(n)]
    says = f"that {' and '.join(said)} had BatchNorm recomputed"
    hold(sorted(kept) == sorted(said), CHAPTER, says, f"{kept}")


def check_run_times(runs: list[dict[str, Any]], checked: bool = True) -> list[str]:
    """Hold the run-times paragraph to the records it shows (where ``checked``): every chapter with a
    time recorded in one folder (one run of every chapter). This page's own run is not recorded while it
    runs and is left out. Returns the chapters from the longest down."""
    from .claims import hold

    timed = [r for r in runs if r["seconds"] is not None and r["seconds"] == r["seconds"]]
    others = [r for r in timed if Path(r["notebook"]).stem != CHAPTER]
    if checked:
        hold(
            len({r["folder"] for r in others}) <= 1,
            CHAPTER,
            "that the run times come from one run of every chapter",
            f"records from {sorted({r['folder'] for r in others})}",
        )
    return [Path(r["notebook"]).stem for r in sorted(others, key=lambda r: -r["seconds"])]


def page_values(report_dir: str | Path, data: FerData) -> dict[str, Any]:
    """Every value and table the appendix reads, by glue name."""
    from .claims import apply_to

    check_recomputed()
    ranked = [*check_run_times(notebook_runs(report_dir, "book"), apply_to(data)), "none", "none"]
    return (
        {
            "app_longest": ranked[0],
            "app_next": ranked[1],
            "app_versions": versions_table(),
            "app_run_times": run_times_table(report_dir, "book"),
            "app_shipped_runs": shipped_runs_table(),
            "app_faces": f"{len(data):,}",
        }
        | experiment_tables()
        | experiment_values(apply_to(data), shipped_public("report_cnn", data))
    )
