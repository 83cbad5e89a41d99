"""Figure layout: what readers see must not overlap."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fer_lib import plots  # noqa: E402


def _gap_under_suptitle(fig: plt.Figure) -> float:
    """Pixels between the suptitle's bottom and the highest image panel's top (titles included)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    top = max(ax.get_tightbbox(renderer).y1 for ax in fig.axes if ax.get_images())
    return title.y0 - top


@pytest.mark.parametrize("n, ncols", [(8, 8), (64, 8), (256, 16)])
def test_filter_grid_suptitle_clears_the_first_row(n, ncols):
    # 256 filters in 16 rows: matplotlib's default suptitle position fell inside the first row
    fig = plots.filter_grid(np.random.default_rng(0).random((n, 12, 12)), ncols=ncols, suptitle="simple_cnn: filters")
    try:
        assert _gap_under_suptitle(fig) > 0
        assert fig._suptitle.get_window_extent().y1 <= fig.bbox.y1 + 0.5  # and stays on the canvas
    finally:
        plt.close(fig)


def test_face_grid_suptitle_clears_the_faces():
    faces = np.random.default_rng(1).integers(0, 256, (27, 48, 48), dtype=np.uint8)
    fig = plots.face_grid(faces, titles=[f"face {i}" for i in range(27)], ncols=9, suptitle="true sad, predicted fear")
    try:
        assert _gap_under_suptitle(fig) > 0
    finally:
        plt.close(fig)


def test_grid_without_suptitle_has_none():
    fig = plots.filter_grid(np.zeros((4, 12, 12)), ncols=4)
    try:
        assert fig._suptitle is None
    finally:
        plt.close(fig)
