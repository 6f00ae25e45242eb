from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from digitrec.evaluation.plots import save_confusion_matrix_png, save_misclassified_png

LABELS = [str(i) for i in range(10)]


def _cm() -> np.ndarray:
    rng = np.random.default_rng(0)
    cm = rng.integers(0, 20, size=(10, 10))
    np.fill_diagonal(cm, 150)
    return cm


def _digits(n: int) -> tuple[np.ndarray, list[int], list[int]]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 17, size=(n, 8, 8)).astype(np.float64)
    true = [i % 10 for i in range(n)]
    predicted = [(i + 1) % 10 for i in range(n)]
    return images, true, predicted


def _open_png(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()  # decodes the whole stream: fails on a truncated file
        return image.size


def test_confusion_matrix_is_a_valid_png(tmp_path):
    path = tmp_path / "out" / "confusion.png"
    save_confusion_matrix_png(_cm(), LABELS, path, title="test")
    width, height = _open_png(path)
    assert 300 <= width <= 2000
    assert 300 <= height <= 2000
    assert [p.name for p in path.parent.iterdir()] == ["confusion.png"]  # no temp left


def test_confusion_matrix_bytes_are_deterministic(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_confusion_matrix_png(_cm(), LABELS, a)
    save_confusion_matrix_png(_cm(), LABELS, b)
    assert a.read_bytes() == b.read_bytes()
    assert b"Software" not in a.read_bytes()


def test_confusion_matrix_depends_on_counts(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cm = _cm()
    save_confusion_matrix_png(cm, LABELS, a)
    cm[0, 1] += 1
    save_confusion_matrix_png(cm, LABELS, b)
    assert a.read_bytes() != b.read_bytes()


def test_misclassified_gallery_is_valid_and_deterministic(tmp_path):
    images, true, predicted = _digits(12)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_misclassified_png(images, true, predicted, a)
    save_misclassified_png(images.copy(), list(true), list(predicted), b)
    assert a.read_bytes() == b.read_bytes()
    width, height = _open_png(a)
    assert 400 <= width <= 1200  # 8 columns
    assert 150 <= height <= 600  # 2 rows


def test_misclassified_gallery_is_capped_at_max_images(tmp_path):
    images, true, predicted = _digits(100)
    capped, full = tmp_path / "capped.png", tmp_path / "full.png"
    save_misclassified_png(images, true, predicted, capped, max_images=16)
    save_misclassified_png(images[:16], true[:16], predicted[:16], full, max_images=16)
    # Only the first 16 are drawn; the title still tells how many mistakes there were.
    assert _open_png(capped) == _open_png(full)
    assert capped.read_bytes() != full.read_bytes()


def test_no_misclassified_images_still_writes_a_png(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_misclassified_png(np.empty((0, 8, 8)), [], [], a)
    save_misclassified_png(np.empty((0, 8, 8)), np.array([]), np.array([]), b)
    assert a.read_bytes() == b.read_bytes()
    width, height = _open_png(a)
    assert 100 <= width <= 800
    assert 50 <= height <= 400


@pytest.mark.parametrize(
    ("images", "true", "predicted"),
    [
        (np.zeros((3, 8, 8)), [1, 2, 3], [4, 5]),  # predicted too short
        (np.zeros((2, 8, 8)), [1, 2, 3], [4, 5, 6]),  # too few images
        (np.zeros((3, 64)), [1, 2, 3], [4, 5, 6]),  # flat images
    ],
)
def test_misclassified_bad_input_writes_nothing(tmp_path, images, true, predicted):
    path = tmp_path / "mis.png"
    with pytest.raises(ValueError):
        save_misclassified_png(images, true, predicted, path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("cm", "labels"),
    [
        (np.zeros((3, 3), dtype=int), ["a", "b"]),  # label count mismatch
        (np.zeros((3, 2), dtype=int), ["a", "b", "c"]),  # not square
        (np.array([[1.0, np.nan], [0.0, 1.0]]), ["a", "b"]),  # not finite
    ],
)
def test_confusion_bad_input_writes_nothing(tmp_path, cm, labels):
    with pytest.raises(ValueError):
        save_confusion_matrix_png(cm, labels, tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "cm.png"
    path.write_bytes(b"previous")

    def broken_savefig(self, fname, **kwargs):
        with open(fname, "wb") as fh:
            fh.write(b"\x89PNG half written")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_confusion_matrix_png(_cm(), LABELS, path)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]


def test_pyplot_is_not_imported():
    import subprocess
    import sys

    code = "import sys, digitrec.evaluation.plots; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
