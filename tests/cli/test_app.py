"""The `digitrec` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitrec.artifact import save_model
from digitrec.imagespec import DIGITS
from digitrec.models.registry import build_classifier
from digitrec.params import FeaturizeParams, PreprocessParams, TrainParams
from digitrec.pipeline import assemble, build_featurizer, build_preprocessor
from digitrec.serve.info import HANDWRITING_RECIPE

DIGITREC = Path(sys.executable).with_name("digitrec")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, digits) -> Path:
    images, labels = digits
    pre = build_preprocessor(DIGITS, PreprocessParams())
    feat = build_featurizer(FeaturizeParams(), 0)
    features = feat.fit_transform(pre.fit_transform(images[:1500]))
    clf = build_classifier(TrainParams(), 0).fit(features, labels[:1500])
    return save_model(tmp_path_factory.mktemp("model") / "model", assemble(pre, feat, clf)).path


def photo(image: np.ndarray, path: Path, scale: int = 12, offset=(30, 50)) -> Path:
    """Render an 8x8 digit as a large dark-on-light picture, off centre, in colour."""
    ink = np.kron(image / 16.0, np.ones((scale, scale)))
    canvas = np.full((200, 220), 235.0)
    r, c = offset
    canvas[r : r + ink.shape[0], c : c + ink.shape[1]] -= 215 * ink
    rgb = np.stack([canvas, canvas * 0.97, canvas * 0.9], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DIGITREC), *args], capture_output=True, text=True)


def test_predict_reads_pictures_and_folders(tmp_path, model_file, digits):
    images, labels = digits
    folder = tmp_path / "pics"
    folder.mkdir()
    chosen = range(1700, 1720)  # not used for training
    for i in chosen:
        photo(images[i], folder / f"{i}.png")
    result = run("predict", str(folder), "--model", str(model_file), "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 20
    truth = {f"{i}.png": int(labels[i]) for i in chosen}
    correct = sum(truth[Path(r["file"]).name] == r["digit"] for r in records)
    assert correct >= 18
    for r in records:
        assert 0 < r["probability"] <= 1
        assert r["probability"] == pytest.approx(max(r["probabilities"].values()), abs=1e-6)
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-5)


def test_predict_plain_output(tmp_path, model_file, digits):
    images, labels = digits
    path = photo(images[1750], tmp_path / "digit.jpg")
    result = run("predict", str(path), "--model", str(model_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: {labels[1750]}  (p=")


def test_predict_reports_bad_files_and_goes_on(tmp_path, model_file, digits):
    good = photo(digits[0][1760], tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    result = run("predict", str(good), str(bad), "--model", str(model_file))
    assert result.returncode == 1
    assert result.stdout.startswith(f"{good}: ")
    assert "bad.png" in result.stderr


def test_every_per_file_error_names_the_file_and_the_others_go_on(tmp_path, model_file, digits):
    folder = tmp_path / "scans"
    folder.mkdir()
    photo(digits[0][1760], folder / "a_good.png")
    Image.new("L", (40, 40), 255).save(folder / "b_blank.png")  # no ink: fails in prepare
    (folder / "c_text.png").write_text("not an image")  # fails in load_image
    photo(digits[0][1761], folder / "d_good.png")
    missing = tmp_path / "missing.png"
    result = run("predict", str(folder), str(missing), "--model", str(model_file))
    assert result.returncode == 1, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        str(folder / "a_good.png"),
        str(folder / "d_good.png"),
    ]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith(f"error: {missing}: ")
    assert errors[1].startswith(f"error: {folder / 'b_blank.png'}: no ink found")
    assert errors[2].startswith(f"error: {folder / 'c_text.png'}: ")
    assert errors[-1] == "error: 3 of 5 failed (named above)"


def test_predict_without_a_model(tmp_path):
    result = run("predict", str(tmp_path), "--model", str(tmp_path / "none.skops"))
    assert result.returncode == 2
    assert "run `dvc repro` first" in result.stderr


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0 and "predict" in result.stdout


def test_predict_says_what_the_model_was_trained_on(tmp_path, model_file, digits):
    """On stderr, so stdout stays one line per image: an 8x8 model points to the recipe
    for real handwriting; inside a project the dataset is named."""
    path = photo(digits[0][1750], tmp_path / "digit.png")
    result = run("predict", str(path), "--model", str(model_file), "--json")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert f"model {model_file}: Trained on an unknown dataset (8x8 images)." in result.stderr
    assert "note: " in result.stderr and HANDWRITING_RECIPE in result.stderr

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "data/raw").mkdir(parents=True)
    (project / "dvc.yaml").write_text("stages: {}\n")
    (project / "data/raw/dataset.json").write_text(json.dumps({"dataset": "optdigits"}))
    for source in model_file.parent.iterdir():
        (project / "models" / source.name).write_bytes(source.read_bytes())
    inside = project / "models" / model_file.name
    result = run("predict", str(path), "--model", str(inside))
    assert result.returncode == 0, result.stderr
    assert f"model {inside}: Trained on optdigits (8x8 images)." in result.stderr


def test_ctrl_c_ends_predict_with_one_line_and_status_130(tmp_path, model_file, digits):
    images, _ = digits
    folder = tmp_path / "many"
    folder.mkdir()
    first = photo(images[0], folder / "0000.png")
    for i in range(1, 3000):  # long enough to be stopped while it reads them
        os.link(first, folder / f"{i:04}.png")
    proc = subprocess.Popen(
        [str(DIGITREC), "predict", "--model", str(model_file), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal
    )
    try:
        assert proc.stderr.readline().startswith("model ")  # loaded; now reading images
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "predict: interrupted"
    assert "Aborted" not in err and "Traceback" not in err
    assert out == ""
