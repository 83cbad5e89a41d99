"""Figure layout: what readers see must not overlap, and a title must not shrink the panels."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fer_report import figures as plots  # noqa: E402


def _measure(fig: plt.Figure) -> tuple[float, float | None]:
    """(height of the first image panel, inches between the suptitle's bottom and the highest panel's top
    with its title); the gap is None without a suptitle."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_images()]
    height = panels[0].get_window_extent(renderer).height / fig.dpi
    if fig._suptitle is None:
        return height, None
    top = max(ax.get_tightbbox(renderer).y1 for ax in panels)
    title = fig._suptitle.get_window_extent(renderer)
    # the notebooks save inline figures with bbox_inches="tight": the title must lie inside that box
    assert fig.get_tightbbox(renderer).y1 >= title.y1 / fig.dpi - 0.01, "the title would be cropped away"
    plt.close(fig)
    return height, (title.y0 - top) / fig.dpi


@pytest.mark.parametrize("n, ncols", [(8, 8), (64, 8), (256, 16)])
def test_filter_grid_suptitle_clears_the_first_row(n, ncols):
    images = np.random.default_rng(0).random((n, 12, 12))
    bare, _ = _measure(plots.filter_grid(images, ncols=ncols))
    fig = plots.filter_grid(images, ncols=ncols, suptitle="simple_cnn: filters")
    assert fig._suptitle.get_window_extent().y1 <= fig.bbox.y1 + 0.5  # on the canvas
    height, gap = _measure(fig)
    # 256 filters in 16 rows: matplotlib's own placement put the title inside the first row
    assert 0 < gap < 0.4, gap
    assert height >= 0.95 * bare, (height, bare)  # the title gets room of its own, not the panels'


def test_face_grid_suptitle_keeps_one_row_of_faces_full_size():
    # Q3's confusion grids are one row of faces: a band taken from the row once shrank them to a third
    faces = np.random.default_rng(1).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    titles = [f"p(sad)=0.{i}" for i in range(8)]
    bare, _ = _measure(plots.face_grid(faces, titles=titles, ncols=8))
    height, gap = _measure(
        plots.face_grid(faces, titles=titles, ncols=8, suptitle="true fear, predicted sad")
    )
    assert 0 < gap < 0.4 and height >= 0.95 * bare, (gap, height, bare)


def test_grid_without_suptitle_has_none():
    fig = plots.filter_grid(np.zeros((4, 12, 12)), ncols=4)
    try:
        assert fig._suptitle is None
    finally:
        plt.close(fig)


def test_validation_curves_draw_one_line_per_run_and_the_target():
    def hist(accs):
        return [{"epoch": i + 1, "val_acc": a} for i, a in enumerate(accs)]

    fig = plots.validation_curves(
        {"a": hist([0.5, 0.6, 0.62]), "b": hist([0.4, 0.55])},
        target=0.651,
        target_label="original report val_acc",
        title="t",
    )
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1]
    assert sorted(len(ln.get_xdata()) for ln in lines) == [2, 2, 3]  # two runs and the target's axhline
    assert any(np.allclose(ln.get_ydata(), 0.651) for ln in lines)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert any("original report val_acc 0.6510" == t.get_text() for t in ax.texts)
    plt.close(fig)
