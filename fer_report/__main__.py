"""The report's command line: ``python -m fer_report`` (or ``fer-report``).

``run`` executes the chapter notebooks with papermill; ``holdout`` writes the hold-out study's model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fer_lib.errors import ConfigError, FerError

# the parameters the runner sets from its own options; -p may not set them too
RUNNER_PARAMS = {"data": "--data", "device": "--device", "run_dir": "--run-dir", "report_dir": "--out"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence, exit 2, no usage dump
        self.exit(2, f"fer-report: error: {message} (see --help).\n")


def notebook_params(pairs: Sequence[str]) -> dict[str, Any]:
    """-p KEY=VALUE pairs, each VALUE read as YAML (numbers, lists, true/false)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"-p takes KEY=VALUE (for example -p epochs=2), not '{pair}'.")
        if key in RUNNER_PARAMS:
            raise ConfigError(
                f"-p {key}=... is set by {RUNNER_PARAMS[key]}; use {RUNNER_PARAMS[key]} instead."
            )
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(
                f"-p {pair}: the value is not valid (write numbers as 2, lists as [a, b], text as is)."
            ) from None
    return out


def _run(a: argparse.Namespace) -> int:
    from .runner import repository, run_report, select_chapters

    repo = repository()

    def for_notebooks(path: str) -> str:
        """A path the caller gave, as the notebooks see it (they run in the repository)."""
        full = Path(path).resolve()
        return str(full.relative_to(repo)) if full.is_relative_to(repo) else str(full)

    params = notebook_params(a.param)
    if a.data is not None:
        params["data"] = a.data if a.data in ("", "synthetic") else for_notebooks(a.data)
    params["device"] = a.device
    params["run_dir"] = for_notebooks(a.run_dir)
    params["report_dir"] = for_notebooks(a.out)
    run_report(
        params,
        a.out,
        notebooks=select_chapters(a.only) if a.only else None,
        publish=a.publish,
        given=set(params) - set(RUNNER_PARAMS),
    )
    return 0


def _holdout(a: argparse.Namespace) -> int:
    from fer_lib.data import load_fer2013

    from .holdout import export_holdout_study

    out = export_holdout_study(a.run, load_fer2013(a.data), a.fraction, a.seed, dest=a.dest, force=a.force)
    print(f"wrote the hold-out study's model to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fer-report", description="Execute the book's chapters; write the report's study model.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="execute every chapter notebook with papermill, in order")
    r.add_argument(
        "--data", default=None, help="FER2013 path ('' = $FER2013_CSV, 'synthetic' = generated faces)"
    )
    r.add_argument("--device", default="auto", help="auto, cpu or cuda")
    r.add_argument("--run-dir", default="runs", help="where training runs live (resumed if present)")
    r.add_argument("--out", default="_report", help="folder for the executed notebooks")
    r.add_argument(
        "-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="any other notebook parameter"
    )
    r.add_argument(
        "--publish", action="store_true", help="after a complete run, copy the executed notebooks over book/"
    )
    r.add_argument(
        "--only",
        nargs="+",
        metavar="CHAPTER",
        default=None,
        help="run only these chapters (names from _toc.yml, say q4_saliency results); "
        "chapters that train (q2_training) must run before those that load its runs",
    )
    r.set_defaults(func=_run)

    h = sub.add_parser("holdout", help="write a run trained on a hold-out of Training as the study's model")
    h.add_argument("run", help="the run folder, trained with --val-fraction on the NTU-style Training split")
    h.add_argument("--data", default=None, help="FER2013 path (default $FER2013_CSV)")
    h.add_argument("--fraction", type=float, default=0.1, help="the share of Training held out")
    h.add_argument("--seed", type=int, default=0, help="the hold-out's seed")
    h.add_argument("--dest", required=True, help="the .pt file to write (fer_report/studies/... to ship it)")
    h.add_argument("--force", action="store_true", help="replace --dest if it exists")
    h.set_defaults(func=_holdout)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return a.func(a)
    except FerError as e:
        print(f"fer-report: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fer-report: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
