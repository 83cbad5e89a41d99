import gzip
import json

import numpy as np
import pytest

from fer_lib import data as D
from fer_lib.data import (
    CLASSES,
    FerData,
    detect_layout,
    load_fer2013,
    read_packed,
    write_csv,
    write_image_folder,
    write_packed,
)
from fer_lib.errors import DataError

from .conftest import run_cli


def same(a: FerData, b: FerData) -> None:
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.labels, b.labels)
    assert list(a.splits) == list(b.splits)


@pytest.mark.parametrize(
    "name,layout", [("fer2013.csv", "fer2013"), ("fer2013.csv.gz", "fer2013"), ("icml_face_data.csv", "icml")]
)
def test_csv_layouts_round_trip(tiny, tmp_path, name, layout):
    p = write_csv(tiny, tmp_path / name, layout)
    assert detect_layout(p) == layout
    got = load_fer2013(p)
    same(got, tiny)
    assert got.layout == layout and got.images.dtype == np.uint8 and got.images.shape[1:] == (48, 48)


def test_both_pixel_parsers_agree(tiny, tmp_path, monkeypatch):
    p = write_csv(tiny, tmp_path / "fer2013.csv")
    compiled = load_fer2013(p)
    monkeypatch.setattr(D, "_parse_rows", None)
    same(load_fer2013(p), compiled)


def test_ntu_layout_gets_a_seeded_stratified_validation_split(synth, tmp_path):
    p = write_csv(synth, tmp_path / "train.csv", "ntu")
    assert detect_layout(p) == "ntu"
    a = load_fer2013(p, val_fraction=0.2, seed=3)
    b = load_fer2013(p, val_fraction=0.2, seed=3)
    c = load_fer2013(p, val_fraction=0.2, seed=4)
    assert np.array_equal(a.images, synth.images) and np.array_equal(a.labels, synth.labels)
    assert list(a.splits) == list(b.splits) and list(a.splits) != list(c.splits)
    assert a.split_names() == ["Training", "PublicTest"]  # no test split in this layout
    val = a.split("PublicTest")
    assert len(val) == pytest.approx(0.2 * len(synth), abs=7)
    assert set(val.counts()["PublicTest"].values()) <= {28, 27, 29}  # stratified: each class ~ equal


def test_hold_out_matches_the_ntu_train_csv_of_the_training_split(synth, tmp_path):
    p = write_csv(synth.split("Training"), tmp_path / "train.csv", "ntu")  # what the course handed out
    held = D.hold_out(synth, 0.1, seed=0)
    assert held.fingerprint() == load_fer2013(p, val_fraction=0.1, seed=0).fingerprint()
    assert held.fingerprint() != D.hold_out(synth, 0.1, seed=1).fingerprint()
    n_train = len(synth.split("Training"))
    assert len(held) == n_train and len(held.split("PublicTest")) == pytest.approx(0.1 * n_train, abs=7)
    assert not set(map(bytes, held.split("PublicTest").images)) & set(
        map(bytes, synth.split("PublicTest").images)
    )
    with pytest.raises(DataError, match="no Training split to hold faces out of"):
        D.hold_out(synth.split("PublicTest"))


def test_image_folder_labels_follow_fer_order_not_alphabetical(tiny, tmp_path):
    root = write_image_folder(tiny, tmp_path / "imgs")
    assert detect_layout(root) == "image_folder"
    got = load_fer2013(root)
    # files are read folder by folder (alphabetically), so compare as multisets per split
    for s in D.SPLITS:
        assert got.split(s).counts() == tiny.split(s).counts()
    one = next((tmp_path / "imgs" / "train" / "neutral").iterdir())
    from PIL import Image

    arr = np.asarray(Image.open(one))
    idx = [i for i in range(len(got)) if np.array_equal(got.images[i], arr)]
    assert idx and all(got.labels[i] == CLASSES.index("neutral") == 6 for i in idx)
    assert all(got.splits[i] == "Training" for i in idx)


def test_image_folder_split_comes_from_file_prefix(tiny, tmp_path):
    root = write_image_folder(tiny, tmp_path / "imgs")
    got = load_fer2013(root)
    assert got.counts() == tiny.counts()


# ------------------------------------------------------------------ bad input: one clear error each


def _fer_lines(tiny):
    flat = tiny.images.reshape(len(tiny), -1)
    return ["emotion,pixels,Usage"] + [
        f"{lab},{' '.join(map(str, r))},{s}" for lab, r, s in zip(tiny.labels, flat.tolist(), tiny.splits)
    ]


def _write(tmp_path, lines, name="fer2013.csv"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _row3(lines, fn):
    lines = list(lines)
    e, pix, u = lines[3].split(",")
    lines[3] = ",".join(fn(e, pix.split(), u))
    return lines


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "case,change,message",
    [
        (
            "wrong pixel count",
            lambda e, p, u: (e, " ".join(p[:-1]), u),
            "row 3 (line 4): expected 2304 pixels (48x48), found 2303",
        ),
        (
            "non-numeric pixel",
            lambda e, p, u: (e, " ".join(["abc"] + p[1:]), u),
            "row 3 (line 4): pixel 'abc' is not an integer",
        ),
        (
            "negative pixel",
            lambda e, p, u: (e, " ".join(["-4"] + p[1:]), u),
            "row 3 (line 4): pixel '-4' is not an integer",
        ),
        (
            "out-of-range pixel",
            lambda e, p, u: (e, " ".join(["256"] + p[1:]), u),
            "row 3 (line 4): pixel value 256 is out of range",
        ),
        (
            "label outside 0..6",
            lambda e, p, u: ("7", " ".join(p), u),
            "row 3 (line 4): label '7' is not an integer in 0..6",
        ),
        (
            "unknown Usage",
            lambda e, p, u: (e, " ".join(p), "Validation"),
            "row 3 (line 4): unknown Usage 'Validation'",
        ),
    ],
)
def test_bad_rows_are_named(tiny, tmp_path, monkeypatch, fast, case, change, message):
    if not fast:
        monkeypatch.setattr(D, "_parse_rows", None)
    p = _write(tmp_path, _row3(_fer_lines(tiny), change))
    with pytest.raises(DataError) as e:
        load_fer2013(p)
    assert str(p) in str(e.value) and message in str(e.value), (case, str(e.value))


def test_missing_field_in_a_row(tiny, tmp_path):
    lines = _fer_lines(tiny)
    lines[5] = lines[5].rsplit(",", 1)[0]
    with pytest.raises(DataError, match=r"row 5 \(line 6\) has 2 fields, expected 3"):
        load_fer2013(_write(tmp_path, lines))


def test_missing_column(tiny, tmp_path):
    lines = [row.rsplit(",", 1)[0] for row in _fer_lines(tiny)]
    with pytest.raises(DataError, match="missing column 'Usage'"):
        load_fer2013(_write(tmp_path, lines))


def test_unrelated_csv(tmp_path):
    with pytest.raises(DataError, match="not a FER2013 file"):
        load_fer2013(_write(tmp_path, ["a,b", "1,2"], "other.csv"))


def test_empty_file_and_header_only(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="e.csv: the file is empty"):
        load_fer2013(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="h.csv: the file has a header but no rows"):
        load_fer2013(tmp_path / "h.csv")


def test_truncated_gzip(tiny, tmp_path):
    p = write_csv(tiny, tmp_path / "fer2013.csv.gz")
    blob = p.read_bytes()
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="fer2013.csv.gz: the gzip stream is truncated or corrupt"):
        load_fer2013(p)


def test_missing_path():
    with pytest.raises(DataError, match="no such file"):
        load_fer2013("/no/such/fer2013.csv")


def test_image_not_48x48_and_resize_option(tiny, tmp_path):
    from PIL import Image

    root = write_image_folder(tiny, tmp_path / "imgs")
    big = tmp_path / "imgs" / "train" / "happy" / "Training_99999.png"
    Image.fromarray(np.full((96, 64), 128, np.uint8)).save(big)
    with pytest.raises(DataError, match=r"Training_99999.png: image is 64x96, expected 48x48"):
        load_fer2013(root)
    got = load_fer2013(root, resize=True)
    assert len(got) == len(tiny) + 1


def test_unreadable_image(tiny, tmp_path):
    root = write_image_folder(tiny, tmp_path / "imgs")
    bad = tmp_path / "imgs" / "test" / "sad" / "PublicTest_00001.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="PublicTest_00001.jpg: cannot read the image"):
        load_fer2013(root)


def test_unknown_class_folder_and_unnamed_split(tiny, tmp_path):
    root = write_image_folder(tiny, tmp_path / "imgs")
    (root / "train" / "contempt").mkdir()
    with pytest.raises(DataError, match="unknown class folder 'contempt'"):
        load_fer2013(root)
    (root / "train" / "contempt").rmdir()
    from PIL import Image

    Image.fromarray(tiny.images[0]).save(root / "test" / "happy" / "img_1.png")
    with pytest.raises(DataError, match="img_1.png: cannot tell the split"):
        load_fer2013(root)


def test_unknown_split_name(tiny):
    with pytest.raises(DataError, match="unknown split 'Validation'"):
        tiny.split("Validation")


# ------------------------------------------------------------------ packed copies


def test_packed_copy_round_trips_with_the_same_fingerprint(synth, tmp_path):
    p = tmp_path / "faces.fer.xz"
    header = write_packed(synth, p)
    assert detect_layout(p) == "packed"
    back = load_fer2013(p)
    same(back, synth)
    assert back.layout == "packed" and back.fingerprint() == synth.fingerprint() == header["fingerprint"]
    assert back.labels.dtype == synth.labels.dtype and back.images.flags.writeable
    assert p.stat().st_size < 0.9 * synth.images.nbytes
    # a training machine needs only Training and PublicTest
    part = write_packed(synth, tmp_path / "train.fer.xz", splits=("PublicTest", "Training"))
    small = read_packed(tmp_path / "train.fer.xz")
    assert part["splits"] == small.split_names() == ["Training", "PublicTest"]
    same(small.split("Training"), synth.split("Training"))
    same(small.split("PublicTest"), synth.split("PublicTest"))
    with pytest.raises(DataError, match="no 'PrivateTest' rows"):
        small.split("PrivateTest")
    # the copy checks its own arrays but names the whole data set, also when packed again
    assert small.data_hash() == synth.fingerprint() != small.fingerprint()
    assert back.data_hash() == synth.fingerprint() and not back.origin
    write_packed(small, tmp_path / "again.fer.xz", splits=("Training",))
    assert read_packed(tmp_path / "again.fer.xz").data_hash() == synth.fingerprint()


def test_packed_copy_errors(tiny, tmp_path):
    import lzma

    with pytest.raises(DataError, match=r"must be named \*\.fer\.xz"):
        write_packed(tiny, tmp_path / "faces.npz")
    with pytest.raises(DataError, match="unknown split 'Test'"):
        write_packed(tiny, tmp_path / "x.fer.xz", splits=("Test",))
    p = tmp_path / "faces.fer.xz"
    write_packed(tiny, p)
    blob = p.read_bytes()
    (tmp_path / "cut.fer.xz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cut.fer.xz: the xz stream is truncated or corrupt"):
        load_fer2013(tmp_path / "cut.fer.xz")
    (tmp_path / "other.xz").write_bytes(blob)
    with pytest.raises(
        DataError, match=r"an xz file; fer_lib reads xz only as a packed copy named \*\.fer\.xz"
    ):
        load_fer2013(tmp_path / "other.xz")
    raw = bytearray(lzma.decompress(blob))
    raw[-1] ^= 1  # one pixel changed under the recorded fingerprint
    (tmp_path / "bad.fer.xz").write_bytes(lzma.compress(bytes(raw)))
    with pytest.raises(DataError, match="do not match the fingerprint recorded when packing"):
        load_fer2013(tmp_path / "bad.fer.xz")
    (tmp_path / "foreign.fer.xz").write_bytes(lzma.compress(b"emotion,pixels,Usage\n"))
    with pytest.raises(DataError, match="not a packed FER2013 copy"):
        load_fer2013(tmp_path / "foreign.fer.xz")


# ------------------------------------------------------------------ CLI


def test_cli_data_pack_then_info(tiny, tmp_path):
    src = write_csv(tiny, tmp_path / "fer2013.csv")
    r = run_cli("data", "pack", str(src), str(tmp_path / "tiny.fer.xz"), "--splits", "Training", "PublicTest")
    assert r.returncode == 0, r.stderr
    keep = np.isin(tiny.splits, ["Training", "PublicTest"])
    own = FerData(tiny.images[keep], tiny.labels[keep], tiny.splits[keep]).fingerprint()
    assert own != tiny.fingerprint()
    assert (
        f"data hash {tiny.fingerprint()} (a copy of some of its splits, whose own hash is {own})" in r.stdout
    )
    info = json.loads(run_cli("data", "info", str(tmp_path / "tiny.fer.xz"), "--json").stdout)
    assert info["format"] == "packed" and list(info["counts"]) == ["Training", "PublicTest"]
    assert info["hash"] == tiny.fingerprint() and info["copy_hash"] == own
    r = run_cli("data", "pack", str(src), str(tmp_path / "tiny.xz"))
    assert r.returncode == 2 and "must be named *.fer.xz" in r.stderr


def test_cli_data_info_json(tiny, tmp_path):
    p = write_csv(tiny, tmp_path / "fer2013.csv")
    r = run_cli("data", "info", str(p), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format"] == "fer2013" and info["total"] == len(tiny)
    assert info["counts"] == tiny.counts()
    assert list(info["counts"]) == ["Training", "PublicTest", "PrivateTest"]
    assert list(info["counts"]["Training"]) == list(CLASSES)


def test_cli_bad_input_is_one_sentence(tmp_path):
    (tmp_path / "e.csv").write_text("")
    r = run_cli("data", "info", str(tmp_path / "e.csv"))
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert "e.csv: the file is empty" in r.stderr


# ------------------------------------------------------------------ the real file


def test_real_fer2013_counts(real_data, real_csv):
    c = real_data.counts()
    assert len(real_data) == 35887
    assert sum(c["Training"].values()) == 28709
    assert c["PublicTest"]["disgust"] == 56 and c["PrivateTest"]["happy"] == 879
    assert c["Training"] == {
        "angry": 3995,
        "disgust": 436,
        "fear": 4097,
        "happy": 7215,
        "sad": 4830,
        "surprise": 3171,
        "neutral": 4965,
    }


def test_real_fer2013_first_row_matches_a_plain_read(real_data, real_csv):
    with gzip.open(real_csv, "rt") if real_csv.endswith(".gz") else open(real_csv) as f:
        f.readline()
        e, pix, u = f.readline().strip().split(",")
    assert real_data.labels[0] == int(e) and real_data.splits[0] == u
    assert real_data.images[0].ravel().tolist() == [int(v) for v in pix.split()]


def test_real_fer2013_packs_losslessly(real_data, tmp_path):
    public = real_data.split("PublicTest")
    p = tmp_path / "public.fer.xz"
    write_packed(real_data, p, splits=("PublicTest",))
    back = read_packed(p)
    same(back, public)
    assert back.fingerprint() == public.fingerprint()
    ratio = p.stat().st_size / public.images.nbytes
    assert 0.5 < ratio < 0.75, ratio  # about 0.71 with the row-delta filter, 0.78 without


def test_help_and_data_info_import_neither_torch_nor_captum(tiny, tmp_path):
    import subprocess
    import sys

    from fer_lib.data import write_csv

    csv = write_csv(tiny, tmp_path / "tiny.csv")
    probe = (
        "import sys, contextlib, io; from fer_lib.__main__ import main\n"
        "for argv in (['--help'], ['data', 'info', sys.argv[1]]):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit): main(argv)\n"
        "print(sorted(m for m in ('torch', 'captum', 'cv2', 'pandas') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", probe, str(csv)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_test_faces_copied_from_training_are_found_and_can_be_left_out(synth, toy_model):
    from fer_lib.data import FerData
    from fer_lib.evaluate import evaluate_split

    images = synth.images.copy()
    train_idx = np.flatnonzero(synth.splits == "Training")[:3]
    test_idx = np.flatnonzero(synth.splits == "PrivateTest")[[5, 17, 40]]
    images[test_idx] = images[train_idx]  # three PrivateTest faces are exact copies of Training faces
    data = FerData(images, synth.labels, synth.splits)
    mask = data.copied_from("PrivateTest")
    assert mask.sum() == 3 and np.array_equal(np.flatnonzero(mask), [5, 17, 40])
    assert not data.copied_from("PrivateTest", ("PublicTest",)).any()
    full = evaluate_split(toy_model, data, "PrivateTest")
    clean = evaluate_split(toy_model, data, "PrivateTest", without_copies_of=("Training",))
    assert (full["n"], full["copies_left_out"]) == (140, 0) and (clean["n"], clean["copies_left_out"]) == (
        137,
        3,
    )


@pytest.mark.realdata
def test_about_eight_percent_of_private_test_faces_are_copies_of_training_faces(real_data):
    mask = real_data.copied_from("PrivateTest")
    assert 0.07 < mask.mean() < 0.09, mask.mean()
    train, test = real_data.split("Training").images, real_data.split("PrivateTest").images
    rng = np.random.default_rng(0)
    for i in rng.choice(
        np.flatnonzero(mask), 10, replace=False
    ):  # checked pixel by pixel, not through the hashes
        assert (train == test[i]).all((1, 2)).any()
    for i in rng.choice(np.flatnonzero(~mask), 10, replace=False):
        assert not (train == test[i]).all((1, 2)).any()
