"""The papermill runner: execute the chapter notebooks in book order (``fer-report run``, ``make report``).

``run_report`` executes the notebooks of ``_toc.yml`` in order into an output folder with shared
parameters, stops at the first failure, and only then (``publish=True``) copies the executed
notebooks over ``book/``: a failed or partial run never reaches the book. The repository is found
from the current folder (the nearest one holding ``_toc.yml`` and ``book/``).
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fer_lib.errors import ConfigError, FerError
from fer_report.measured import MEASURED_ENV


def repository(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (the current folder) that holds ``_toc.yml`` and ``book/``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "book").is_dir():
            return folder
    raise ConfigError(
        f"no _toc.yml with a book/ folder beside it at or above {here}; run this inside the fer-report "
        "repository."
    )


class ReportFailed(FerError):
    """A chapter notebook raised; the book was not touched."""


def _working_folder(notebook: Path) -> Path:
    """Where a chapter runs: its repository (paths in the parameters are relative to it), else its folder."""
    try:
        return repository(notebook.parent)
    except ConfigError:
        return notebook.parent


def toc_notebooks(repo: Path | None = None) -> list[Path]:
    """The chapter notebooks in the order ``repo``'s ``_toc.yml`` gives."""
    import yaml

    repo = repo or repository()
    toc, book_dir = repo / "_toc.yml", repo / "book"
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
    # a page written in markdown (the references) has no code to run; a missing notebook stays listed, so
    # that the runner names it
    return [book_dir / f"{n}.ipynb" for n in names if not (book_dir / f"{n}.md").is_file()]


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

    from fer_lib.checks import output_dir

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
    with _shared_measurements(out / ".measured"):
        _execute(notebooks, declared, params, out, kernel, log, done)
    if publish:
        for nb_out, nb in zip(done, notebooks):
            shutil.copyfile(nb_out, nb)
        log(f"published {len(done)} executed notebooks into {notebooks[0].parent}")
    return done


@contextmanager
def _shared_measurements(folder: Path) -> Iterator[None]:
    """The chapters of one run share each model's evaluation (``fer_report.measured``), kept in ``folder``."""
    before = os.environ.get(MEASURED_ENV)
    os.environ[MEASURED_ENV] = str(folder)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MEASURED_ENV, None)
        else:
            os.environ[MEASURED_ENV] = before


def _execute(
    notebooks: list[Path],
    declared: dict[Path, set[str]],
    params: dict[str, Any],
    out: Path,
    kernel: str,
    log: Any,
    done: list[Path],
) -> None:
    """Execute each chapter into ``out`` with the parameters it declares, adding each to ``done``."""
    import papermill as pm

    for nb in notebooks:
        own = {k: v for k, v in params.items() if k in declared[nb]}
        target = out / nb.name
        t0 = time.perf_counter()
        log(f"running {nb.name} with {own}")
        try:
            pm.execute_notebook(
                str(_without_injected_parameters(nb, target)),
                str(target),
                parameters=own,
                kernel_name=kernel,
                cwd=str(_working_folder(nb)),
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


def _without_injected_parameters(nb: Path, target: Path) -> Path:
    """The chapter as it would run, written to ``target``: without the parameters cell an earlier run
    injected, which papermill would otherwise keep (and run) when this run gives the chapter none."""
    book = json.loads(nb.read_text())
    book["cells"] = [
        c for c in book["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
    ]
    target.write_text(json.dumps(book, indent=1, ensure_ascii=False) + "\n")
    return target


def _hide_parameter_cells(path: Path) -> None:
    """Hide papermill's injected-parameters cell in the book (the run-parameters box shows them), and record
    the chapter's own name instead of where this machine kept it (a reader downloads the notebook)."""
    nb = json.loads(path.read_text())
    run = nb.get("metadata", {}).get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in run:
            run[key] = f"book/{path.name}"
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
        if "injected-parameters" in tags:  # papermill ends it with a blank line, which `ruff format` removes
            source = "".join(cell["source"]).rstrip("\n")
            cell["source"] = source.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
