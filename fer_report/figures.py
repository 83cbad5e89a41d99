"""The book's figures (matplotlib, seaborn; faces always in gray), and ``as_image`` to show one on a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm

from fer_lib.data import CLASSES, FerData

# A figure is drawn at the width the book shows it at, so that its text is as large on the page as it was
# drawn: at 1280 px the content column is 688 px and a figure in it is shown 672 px wide (measured in
# Chromium, scripts/check_pages.py). Saved at DPI, WIDTH inches are those 672 px, and a font of SMALL
# points is SMALL * DPI / 72 = 10.4 px, about the body text's small print; no text is smaller.
SHOWN_WIDTH_PX = 672
DPI = 100
WIDTH = SHOWN_WIDTH_PX / DPI
SMALL = 7.5

# seaborn's notebook sizes, scaled to the page: axis labels 10.2 pt (14 px), ticks and legends 9.4 pt (13 px)
sns.set_theme(context="notebook", style="whitegrid", font_scale=0.85)

# the key under which a saved figure records its smallest font size (see record_font)
FONT_RECORD = "min_font_px"


def _layout(fig: plt.Figure, suptitle: str | None = None, band: float = 0.4) -> None:
    """tight_layout, with an optional suptitle in a band (inches) added above the panels.

    Left to tight_layout, a suptitle on a tall grid (512 filters in 32 rows) lands inside the
    first row; a fixed band that grows the figure keeps it clear and leaves the panels their size.
    The title is added after the layout, so that tight_layout does not count it twice and a
    ``bbox_inches="tight"`` save (the notebooks' inline figures) still includes it.
    """
    if not suptitle:
        fig.tight_layout()
        return
    height = fig.get_figheight() + band
    fig.set_figheight(height)
    fig.tight_layout(rect=(0, 0, 1, 1 - band / height))
    fig.suptitle(suptitle, y=1 - 0.08 / height, va="top")


def _legend_below(ax: plt.Axes, ncols: int = 3, **kw: Any) -> None:
    """The axes' legend under its x-axis label, off the data, without a frame."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend():
        ax.get_legend().remove()
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.22),
            ncols=min(ncols, len(labels)),
            frameon=False,
            fontsize=SMALL + 1,
            **kw,
        )


def class_balance(data: FerData) -> plt.Figure:
    """Images per class and split (a grouped bar chart)."""
    rows = [(s, c, n) for s, counts in data.counts().items() for c, n in counts.items()]
    df = pd.DataFrame(rows, columns=["split", "class", "images"])
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    sns.barplot(df, x="class", y="images", hue="split", ax=ax, order=list(CLASSES))
    ax.set_xlabel("expression")
    ax.set_ylabel("images")
    ax.set_title("FER2013: images per class and split")
    for cont in ax.containers:
        ax.bar_label(cont, fontsize=SMALL, padding=2, rotation=90)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # room above the tallest bar for its label
    _legend_below(ax)
    fig.tight_layout()
    return fig


def face_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float | None = None,
    suptitle: str | None = None,
) -> plt.Figure:
    """Faces in a grid, in gray, with optional titles; ``size`` inches a face, by default the page's
    width shared by ``ncols``."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    size = size or WIDTH / ncols
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * size, nrows * (size + (0.25 if titles else 0))), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255 if images[i].dtype == np.uint8 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=SMALL)
    _layout(fig, suptitle)
    return fig


def samples_per_class(data: FerData, per_class: int = 8, seed: int = 0) -> plt.Figure:
    """A row of random faces for each class."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(CLASSES), per_class, figsize=(WIDTH, len(CLASSES) * WIDTH / (per_class + 1.2)), squeeze=False
    )
    for c, name in enumerate(CLASSES):
        idx = np.flatnonzero(data.labels == c)
        pick = rng.choice(idx, min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, ax in enumerate(axes[c]):
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(pick):
                ax.imshow(data.images[pick[j]], cmap="gray", vmin=0, vmax=255)
        axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.tight_layout()
    return fig


def history_curves(
    history: list[dict], title: str = "", reference: dict | None = None, train_loss: str | None = "loss"
) -> plt.Figure:
    """Cross-entropy and accuracy per epoch for training and validation (PublicTest).

    ``train_loss`` names the history key that holds the training cross-entropy: ``"ce"`` for a run
    that logged it beside another objective (distillation), None to leave the training loss out
    where the run's loss is not the cross-entropy."""
    h = pd.DataFrame(history)
    rows = []
    for metric in ("loss", "acc"):
        train_col = (train_loss if metric == "loss" else metric) or ""
        for split, col in (("training", train_col), ("validation (PublicTest)", f"val_{metric}")):
            if col in h:
                rows += [
                    {"epoch": e, "metric": metric, "split": split, "value": v}
                    for e, v in zip(h["epoch"], h[col])
                ]
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.4))
    for ax, metric, label in zip(axes, ("loss", "acc"), ("cross-entropy loss", "accuracy")):
        sns.lineplot(
            df[df.metric == metric], x="epoch", y="value", hue="split", ax=ax, marker="o", markersize=3
        )
        if reference:
            for key, style in ((metric, ":"), (f"val_{metric}", "--")):
                if key in reference:
                    ax.axhline(reference[key], ls=style, color="gray", lw=1)
                    ax.annotate(
                        f"original report {key} {reference[key]:.4f}",
                        (h["epoch"].min(), reference[key]),
                        fontsize=SMALL,
                        color="gray",
                        va="bottom",
                    )
        ax.set_ylabel(label)
        ax.set_title(f"{title} {label}".strip())
        _legend_below(ax, ncols=1)
    fig.tight_layout()
    return fig


def validation_curves(
    histories: dict[str, list[dict]], target: float | None = None, target_label: str = "", title: str = ""
) -> plt.Figure:
    """PublicTest accuracy per epoch of several runs on one axis, with an optional target line."""
    df = pd.DataFrame(
        [
            {"epoch": e["epoch"], "PublicTest accuracy": e["val_acc"], "run": name}
            for name, hist in histories.items()
            for e in hist
            if "val_acc" in e
        ]
    )
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    sns.lineplot(df, x="epoch", y="PublicTest accuracy", hue="run", ax=ax, lw=1.2)
    if target is not None:
        ax.axhline(target, ls="--", color="gray", lw=1)
        ax.annotate(
            f"{target_label} {target:.4f}".strip(),
            (df["epoch"].min(), target),
            fontsize=SMALL,
            color="gray",
            va="bottom",
        )
        lo, hi = ax.get_ylim()
        ax.set_ylim(
            lo, max(hi, target + 0.02 * (max(hi, target) - lo))
        )  # the line and its label inside the axes
    ax.set_title(title)
    _legend_below(ax, ncols=2)
    fig.tight_layout()
    return fig


def confusion_heatmaps(cm: np.ndarray, title: str = "") -> plt.Figure:
    """The confusion matrix with a logarithmic colour scale, and row-normalised (recall per class)."""
    cm = np.asarray(cm)
    # one above the other, each the page's width: side by side, two decimals in 49 cells do not fit
    fig, axes = plt.subplots(2, 1, figsize=(WIDTH, 9.0))
    sns.heatmap(
        cm + 0.0,
        ax=axes[0],
        annot=cm,
        fmt="d",
        cmap="viridis",
        norm=LogNorm(vmin=max(cm.min(), 1), vmax=cm.max()),
        xticklabels=CLASSES,
        yticklabels=CLASSES,
        cbar_kws={"label": "images (log scale)"},
        square=True,
    )
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    sns.heatmap(
        share,
        ax=axes[1],
        annot=True,
        fmt=".2f",
        cmap="Blues",
        vmin=0,
        vmax=1,
        xticklabels=CLASSES,
        yticklabels=CLASSES,
        cbar_kws={"label": "share of the true class"},
        square=True,
    )
    for ax, t in zip(axes, ("counts, log colour scale", "row-normalised (recall on the diagonal)")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title} {t}".strip())
    fig.tight_layout()
    return fig


def per_class_bars(per_class: dict[str, dict[str, float]], title: str = "") -> plt.Figure:
    rows = [(c, m, v[m]) for c, v in per_class.items() for m in ("precision", "recall", "f1")]
    df = pd.DataFrame(rows, columns=["class", "metric", "value"])
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    sns.barplot(df, x="class", y="value", hue="metric", ax=ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("expression")
    ax.set_title(title or "precision, recall and F1 per class")
    _legend_below(ax)
    fig.tight_layout()
    return fig


def overlay_grid(
    images: np.ndarray,
    maps: dict[str, np.ndarray],
    titles: Sequence[str],
    cmap: str = "inferno",
    alpha: float = 0.55,
) -> plt.Figure:
    """One row per face: the face in gray, then each method's map overlaid on it."""
    import textwrap

    n, methods = len(images), list(maps)
    cell = WIDTH / (
        len(methods) + 2.2
    )  # the faces, the row titles on the left and the colour bar share the width
    fig, axes = plt.subplots(n, len(methods) + 1, figsize=(WIDTH, (cell + 0.3) * n + 0.3), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i], cmap="gray", vmin=0, vmax=255)
        axes[i, 0].set_ylabel(
            textwrap.fill(titles[i], 12), rotation=0, ha="right", va="center", fontsize=SMALL
        )
        for j, m in enumerate(methods):
            a = maps[m][i]
            axes[i, j + 1].imshow(images[i], cmap="gray", vmin=0, vmax=255)
            axes[i, j + 1].imshow(a, cmap=cmap, alpha=alpha, vmin=0, vmax=max(float(a.max()), 1e-12))
    for j, m in enumerate(["face", *methods]):
        axes[0, j].set_title(textwrap.fill(m.replace("_", " "), 10), fontsize=SMALL)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(rect=(0, 0, 0.86, 1))  # the colour bar, its ticks and label in the last 14%
    scale = fig.add_axes((0.875, 0.25, 0.015, 0.5))
    bar = fig.colorbar(plt.cm.ScalarMappable(cmap=cmap), cax=scale)
    bar.set_label("attribution (each map /\nits 99th percentile)", fontsize=SMALL)
    bar.ax.tick_params(labelsize=SMALL)
    return fig


def filter_grid(
    images: np.ndarray,
    ncols: int = 8,
    titles: Sequence[str] | None = None,
    cmap: str = "gray",
    suptitle: str | None = None,
    size: float | None = None,
) -> plt.Figure:
    """Per-filter images (each scaled to its own range); ``size`` inches a tile, by default the page's width
    shared by ``ncols``."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    size = size or WIDTH / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.15)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap)
            ax.set_title(titles[i] if titles else f"filter {i}", fontsize=SMALL)
    _layout(fig, suptitle)
    return fig


def parameter_bars(rows: list, title: str = "") -> plt.Figure:
    """Parameters per layer (log scale) for a Keras-style summary."""
    named = [(f"{i:02d} {r.name}", r.params) for i, r in enumerate(rows) if r.params > 0]
    fig, ax = plt.subplots(figsize=(WIDTH, 0.3 * len(named) + 1))
    sns.barplot(x=[p for _, p in named], y=[n for n, _ in named], ax=ax, color="steelblue", orient="h")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log scale)")
    ax.set_title(title)
    for cont in ax.containers:
        ax.bar_label(cont, labels=[f"{p:,}" for _, p in named], fontsize=SMALL, padding=2)
    ax.set_xlim(right=ax.get_xlim()[1] * 4)  # room right of the longest bar for its label (log scale)
    fig.tight_layout()
    return fig


def randomization_plot(result: dict[str, list[tuple[str, float]]], title: str = "") -> plt.Figure:
    """Spearman rho between trained and progressively randomised maps, layer by layer from the top."""
    rows = [
        {"method": m, "step": i, "layer": name, "rho": rho}
        for m, curve in result.items()
        for i, (name, rho) in enumerate(curve)
    ]
    df = pd.DataFrame(rows)
    layers = [name for name, _ in next(iter(result.values()))]
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8))
    sns.lineplot(df, x="step", y="rho", hue="method", marker="o", ax=ax)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=60, ha="right", fontsize=SMALL)
    ax.set_xlabel("randomised down to layer (cascading from the output)")
    ax.set_ylabel("Spearman rank correlation\nwith the trained model's map")
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_title(title or "model-parameter randomisation test")
    fig.tight_layout()
    # beside the axes, right of the plot: the tick labels below are long layer names
    handles, labels = ax.get_legend_handles_labels()
    ax.get_legend().remove()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False, fontsize=SMALL)
    fig.tight_layout()
    return fig


def deletion_insertion_plot(curves: dict[str, dict[str, np.ndarray]], title: str = "") -> plt.Figure:
    """Mean true-class probability as pixels are deleted (left) or inserted (right), per method."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 4.8), sharey=True)
    for kind, ax in zip(("deletion", "insertion"), axes):
        for m, c in curves.items():
            ax.plot(
                c["fractions"],
                c[kind].mean(0),
                label=f"{m} (AUC {c[kind + '_auc'].mean():.3f})",
                ls="--" if m == "random" else "-",
                color="black" if m == "random" else None,
            )
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'restored'}")
        ax.set_title(f"{title} {kind}".strip())
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, fontsize=SMALL)
    axes[0].set_ylabel("mean probability of the true class")
    fig.tight_layout()
    return fig


def drawn_texts(fig: plt.Figure) -> list[Any]:
    """The text a saved figure shows: its own texts and legends, and in each visible axes the titles,
    annotations, legend and, where the axes are on, the axis labels and tick labels."""
    from matplotlib.text import Text

    texts: list[Any] = list(fig.texts)
    for legend in fig.legends:
        texts += [*legend.get_texts(), legend.get_title()]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [c for c in ax.get_children() if isinstance(c, Text)]  # titles, annotations, bar labels
        if ax.get_legend():
            texts += [*ax.get_legend().get_texts(), ax.get_legend().get_title()]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                texts += [axis.label, axis.get_offset_text(), *axis.get_ticklabels(which="both")]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def smallest_font_px(fig: plt.Figure, dpi: float) -> float | None:
    """The smallest font size the figure shows, in pixels of an image saved at ``dpi``; None without text."""
    sizes = [t.get_fontsize() for t in drawn_texts(fig)]
    return min(sizes) * dpi / 72 if sizes else None


def record_font(data: bytes, px: float) -> bytes:
    """A PNG or JPEG with its smallest font size recorded (``min_font_px``, pixels at natural size): a
    tEXt chunk after the PNG header, a comment after the JPEG start marker. The book's page check
    (scripts/check_pages.py) reads it to know how large the text is where the image is shown."""
    import struct
    import zlib

    text = f"{FONT_RECORD}={px:.2f}".encode("latin-1")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        body = b"tEXt" + FONT_RECORD.encode("latin-1") + b"\0" + f"{px:.2f}".encode("latin-1")
        chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
        header_end = 8 + 12 + struct.unpack(">I", data[8:12])[0]  # the signature, then IHDR
        return data[:header_end] + chunk + data[header_end:]
    if data.startswith(b"\xff\xd8"):
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + data[2:]
    raise ValueError("record_font takes PNG or JPEG bytes.")


def _save(fig: plt.Figure, jpeg: bool, dpi: float, quality: int) -> bytes:
    """The figure saved as PNG or JPEG bytes, with its smallest font size recorded; the figure is closed."""
    import io

    buf = io.BytesIO()
    kw = {"pil_kwargs": {"quality": quality, "optimize": True}} if jpeg else {}
    fig.savefig(buf, format="jpeg" if jpeg else "png", dpi=dpi, bbox_inches="tight", **kw)
    px = smallest_font_px(fig, dpi)  # after the save, which drew the figure and placed its tick labels
    plt.close(fig)
    return record_font(buf.getvalue(), px) if px else buf.getvalue()


def as_image(fig: plt.Figure, jpeg: bool = False, dpi: float = DPI, quality: int = 85) -> Any:
    """A figure as an IPython image to glue into a numbered MyST figure (JPEG for photo-like grids,
    PNG for plots with text), its smallest font size recorded in the file; the figure is closed."""
    from IPython.display import Image

    return Image(data=_save(fig, jpeg, dpi, quality), format="jpeg" if jpeg else "png")


def show_as_jpeg(fig: plt.Figure, quality: int = 85, dpi: float = DPI) -> bytes:
    """Show a photo-like figure (grids of faces, maps, filters) as JPEG and close it; return the bytes.

    Such grids are noise-like and large: as PNG one figure can weigh several MB in the notebook and
    the page; as JPEG at quality 85 a fraction of that, with no difference a reader can see at page
    width. Line plots and heatmaps with text stay PNG (``plt.show()``).
    """
    from IPython.display import Image, display

    data = _save(fig, True, dpi, quality)
    display(Image(data=data, format="jpeg"))
    return data


def photo_and_crops(
    photo: np.ndarray,
    crops: Sequence[np.ndarray],
    references: np.ndarray,
    labels: Sequence[str],
    ref_title: str = "FER2013 faces",
) -> plt.Figure:
    """A photo with its faces drawn (left), each face's 48x48 crop, and FER2013 faces to compare the framing
    with."""
    n_ref = len(references)
    fig = plt.figure(figsize=(WIDTH, 2.9))
    grid = fig.add_gridspec(
        2,
        1 + max(len(crops), 1) + n_ref // 2 + n_ref % 2,
        width_ratios=[4] + [1] * (max(len(crops), 1) + (n_ref + 1) // 2),
    )
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(photo)
    ax.set_title("the photo, faces found", fontsize=10)
    ax.axis("off")
    for i, (crop, label) in enumerate(zip(crops, labels)):
        a = fig.add_subplot(grid[0, 1 + i])
        a.imshow(crop, cmap="gray", vmin=0, vmax=255)
        a.set_title(f"crop {i + 1}\n{label}", fontsize=9)
        a.axis("off")
    start = 1 + max(len(crops), 1)
    for j, ref in enumerate(references):
        a = fig.add_subplot(grid[j % 2, start + j // 2])
        a.imshow(ref, cmap="gray", vmin=0, vmax=255)
        a.axis("off")
        if j == 0:
            a.set_title(ref_title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def filter_rows(
    synthetic: np.ndarray,
    faces: np.ndarray,
    labels: Sequence[str],
    row_titles: Sequence[str],
    suptitle: str = "",
) -> plt.Figure:
    """One row per filter: its activation-maximisation image, then the faces that excite it most.

    ``faces`` is (filters, k, 48, 48) and ``labels`` the k expressions of each row, flattened."""
    n, k = faces.shape[:2]
    # the page's width shared by the tiles, so that the page shows the figure at its own size
    fig, axes = plt.subplots(
        n,
        k + 1,
        figsize=(WIDTH, n * (WIDTH / (k + 1.4) + 0.35)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.4] + [1] * k},
    )
    for i in range(n):
        axes[i, 0].imshow(synthetic[i], cmap="gray")
        axes[i, 0].set_title(row_titles[i], fontsize=SMALL)
        for j in range(k):
            axes[i, j + 1].imshow(faces[i, j], cmap="gray", vmin=0, vmax=255)
            axes[i, j + 1].set_title(labels[i * k + j], fontsize=SMALL)
    for ax in axes.flat:
        ax.axis("off")
    _layout(fig, suptitle)
    return fig
