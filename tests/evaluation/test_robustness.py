"""The corruption suite, the robustness measurement and the robustness stage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.transform import resize

from digitrec import artifact, io
from digitrec.evaluation import plots
from digitrec.evaluation.robustness import REFUSED, SUITE, corrupt, measure, predict_normalized
from digitrec.imagespec import DIGITS, MNIST
from digitrec.models.registry import build_classifier
from digitrec.params import (
    CorruptionParams,
    FeaturizeParams,
    ParamsError,
    PreprocessParams,
    TrainParams,
)
from digitrec.pipeline import assemble, build_featurizer, build_preprocessor
from digitrec.stages import robustness as robustness_stage
from digitrec.transforms.imaging import normalize

# Severities used below: the project's defaults (params.yaml spells out the same).
DEFAULT = CorruptionParams().selected()
# Corruptions that draw random numbers (the others are fixed functions of the image).
RANDOM = {
    "gaussian_noise",
    "impulse_noise",
    "motion_blur",
    "rotate",
    "shear",
    "translate",
    "stripes",
    "dotted_lines",
    "fog",
}
# A milder and a harsher severity of each corruption for which "harsher" is meaningful.
ORDERED = {
    "gaussian_noise": (0.1, 0.4),
    "impulse_noise": (0.05, 0.3),
    "gaussian_blur": (0.03, 0.1),
    "motion_blur": (0.15, 0.5),
    "rotate": (10, 40),
    "shear": (0.15, 0.6),
    "scale": (0.85, 0.5),
    "translate": (0.1, 0.4),
    "thicken": (0.05, 0.15),
    "thin": (0.03, 0.1),
    "stripes": (1, 4),
    "dotted_lines": (1, 4),
    "fog": (0.2, 0.8),
    "brightness": (0.1, 0.5),
}


@pytest.fixture(scope="module")
def eight(digits) -> np.ndarray:
    """Six raw 8x8 digits (counts 0..16)."""
    return digits[0][:6]


@pytest.fixture(scope="module")
def mnist_like(eight) -> np.ndarray:
    """The same digits as 28x28 MNIST-style images: scaled to the 20 px box, 4 px margins."""
    big = [np.pad(resize(img / 16.0, (20, 20), order=1), 4) for img in eight]
    return np.rint(np.clip(big, 0, 1) * 255).astype(np.uint8)


def spec_and_images(request, which):
    return (
        (DIGITS, request.getfixturevalue("eight"))
        if which == "digits"
        else (MNIST, request.getfixturevalue("mnist_like"))
    )


def change(before: np.ndarray, after: np.ndarray, spec) -> float:
    """Mean absolute change per pixel, as a fraction of full ink."""
    return float(np.mean(np.abs(after.astype(float) - before.astype(float)))) / spec.max_value


def test_the_suite_and_the_params_name_the_same_corruptions_in_the_same_order():
    assert list(CorruptionParams.model_fields) == list(SUITE)
    assert set(ORDERED) | {"canny_edges"} == set(SUITE)


@pytest.mark.parametrize("which", ["digits", "mnist"])
@pytest.mark.parametrize("name", list(SUITE))
def test_each_corruption_keeps_the_format_changes_the_image_and_repeats_for_a_seed(
    request, which, name
):
    spec, images = spec_and_images(request, which)
    out = corrupt(images, name, DEFAULT[name], spec, seed=7)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert out.max() <= spec.max_value
    # Every image changes, and by more than a rounding step on average.
    assert all(not np.array_equal(a, b) for a, b in zip(images, out, strict=True))
    assert change(images, out, spec) > 0.01
    assert np.array_equal(corrupt(images, name, DEFAULT[name], spec, seed=7), out)
    other = corrupt(images, name, DEFAULT[name], spec, seed=8)
    assert np.array_equal(other, out) == (name not in RANDOM)


@pytest.mark.parametrize("which", ["digits", "mnist"])
@pytest.mark.parametrize("name", list(ORDERED))
def test_a_harsher_severity_changes_the_images_more(request, which, name):
    spec, images = spec_and_images(request, which)
    mild, harsh = (corrupt(images, name, s, spec, seed=3) for s in ORDERED[name])
    assert change(images, harsh, spec) > change(images, mild, spec)


def test_a_corruption_draws_the_same_numbers_whatever_else_runs(eight):
    alone = corrupt(eight, "gaussian_noise", 0.3, DIGITS, seed=1)
    corrupt(eight, "fog", 0.5, DIGITS, seed=1)
    assert np.array_equal(corrupt(eight, "gaussian_noise", 0.3, DIGITS, seed=1), alone)
    assert not np.array_equal(corrupt(eight, "impulse_noise", 0.3, DIGITS, seed=1), alone)


def test_corruptions_do_what_their_names_say(mnist_like):
    images, spec = mnist_like, MNIST
    ink = images.astype(float).sum(axis=(1, 2))
    thick = corrupt(images, "thicken", 0.05, spec, 0).astype(float).sum(axis=(1, 2))
    thin = corrupt(images, "thin", 0.05, spec, 0).astype(float).sum(axis=(1, 2))
    assert np.all(thick > 1.2 * ink) and np.all(thin < 0.8 * ink)

    # Translation by 0.2 box = 4 px of MNIST moves every centre of mass by about 4 px.
    moved = corrupt(images, "translate", 0.2, spec, 0)
    shifts = [
        np.hypot(*np.subtract(ndimage.center_of_mass(b), ndimage.center_of_mass(a)))
        for a, b in zip(images, moved, strict=True)
    ]
    assert np.allclose(shifts, 4.0, atol=0.6)

    # Scale 0.5 halves the ink's bounding box (about the centre).
    small = corrupt(images, "scale", 0.5, spec, 0)
    for a, b in zip(images, small, strict=True):
        rows_a, rows_b = (np.flatnonzero(x.max(axis=1) > 64) for x in (a, b))
        assert abs((rows_b[-1] - rows_b[0]) / (rows_a[-1] - rows_a[0]) - 0.5) < 0.15

    # Brightness: the paper becomes grey at the given level, full ink stays full.
    bright = corrupt(images, "brightness", 0.3, spec, 0)
    assert np.all(bright[images == 0] == round(0.3 * 255))
    assert np.all(bright[images == 255] == 255)

    # Stripes: whole columns of full ink that were not there.
    striped = corrupt(images, "stripes", 2, spec, 0)
    full_columns = (striped == 255).all(axis=1).sum(axis=1)
    assert np.all(full_columns >= 1) and not (images == 255).all(axis=1).any()


def test_unknown_corruption_and_wrong_shape_are_refused(eight):
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        corrupt(eight, "snow", 1, DIGITS, 0)
    with pytest.raises(ValueError, match=r"shape \(n, 28, 28\)"):
        corrupt(eight, "fog", 0.5, MNIST, 0)


# ------------------------------------------------------------------------ measuring
@pytest.fixture(scope="module")
def knn_model(small_digits):
    x_train, y_train, *_ = small_digits
    pre = build_preprocessor(DIGITS, PreprocessParams())
    feat = build_featurizer(FeaturizeParams(method="raw"), 0)
    features = feat.fit_transform(pre.fit_transform(x_train))
    return assemble(pre, feat, build_classifier(TrainParams(model="knn"), 0).fit(features, y_train))


def test_measure_scores_both_paths_on_each_condition(knn_model, small_digits):
    *_, x_test, y_test = small_digits
    x_test, y_test = x_test[:60], y_test[:60]
    severities = {"gaussian_noise": 0.3, "translate": 0.2}
    metrics, conditions = measure(knn_model, x_test, y_test, DIGITS, severities, seed=5)
    assert [c.name for c in conditions] == ["clean", "gaussian_noise", "translate"]
    assert metrics["n_images"] == 60 and set(metrics["accuracy"]) == {c.name for c in conditions}
    errors = {"raw": [], "normalized": []}
    for c in conditions:
        expected = (
            c.images
            if c.name == "clean"
            else corrupt(x_test, c.name, severities[c.name], DIGITS, seed=5)
        )
        assert np.array_equal(c.images, expected)
        raw = np.mean(knn_model.predict(expected) == y_test)
        ready = np.stack([normalize_one(img) for img in expected])
        normalized = np.mean(knn_model.predict(ready) == y_test)
        assert metrics["accuracy"][c.name] == {
            "raw": round(raw, 6),
            "normalized": round(normalized, 6),
        }
        if c.name != "clean":
            errors["raw"].append(1 - raw)
            errors["normalized"].append(1 - normalized)
    assert metrics["mean_corruption_error"] == {
        p: round(float(np.mean(e)), 6) for p, e in errors.items()
    }
    # Translation hurts the raw path, and normalize (which re-centres) undoes most of it.
    assert (
        metrics["accuracy"]["translate"]["raw"]
        < 0.6
        < metrics["accuracy"]["translate"]["normalized"]
    )


def normalize_one(img):
    return normalize(img / 16.0, DIGITS)


def test_an_image_normalize_refuses_counts_as_wrong(knn_model, small_digits):
    *_, x_test, y_test = small_digits
    images = x_test[:3].copy()
    images[1] = 0  # blank: no digit to find
    labels = predict_normalized(knn_model, images, DIGITS)
    assert labels[1] == REFUSED and labels[0] != REFUSED and labels[2] != REFUSED
    metrics, _ = measure(knn_model, images, y_test[:3], DIGITS, {"brightness": 0.3}, seed=0)
    assert metrics["normalize_refused"]["clean"] == 1
    assert metrics["accuracy"]["clean"]["normalized"] <= round(2 / 3, 6)


# ------------------------------------------------------------------------ the stage
@pytest.fixture
def robustness_project(stage_dir, knn_model, small_digits):
    """Factory: a project with the knn model saved and 40 test images in data/raw."""

    def make(**robustness_params):
        *_, x_test, y_test = small_digits
        root = stage_dir(robustness=robustness_params)
        raw = root / "data/raw"
        raw.mkdir(parents=True)
        io.write_arrays(raw, test_images=x_test[:40], test_labels=y_test[:40])
        io.write_json(raw / "dataset.json", {"dataset": "digits"})
        artifact.save_model(root / "models/model", knn_model)
        return root

    return make


def test_the_stage_writes_the_same_metrics_and_plots_twice(robustness_project):
    corruptions = {name: None for name in SUITE} | {"gaussian_noise": 0.3, "rotate": 20}
    root = robustness_project(corruptions=corruptions, n_images=30, gallery=4)
    robustness_stage.main()
    outputs = [
        "metrics/robustness.json",
        "plots/robustness/accuracy.csv",
        "plots/robustness/accuracy.png",
        "plots/robustness/gallery.png",
    ]
    first = {name: (root / name).read_bytes() for name in outputs}
    metrics = json.loads(first["metrics/robustness.json"])
    assert metrics["dataset"] == "digits" and metrics["n_images"] == 30
    assert list(metrics["accuracy"]) == ["clean", "gaussian_noise", "rotate"]  # sorted keys
    assert set(metrics["mean_corruption_error"]) == {"raw", "normalized"}
    assert first["plots/robustness/accuracy.csv"].decode().splitlines()[:2] == [
        "condition,raw,normalized",
        f"clean,{metrics['accuracy']['clean']['raw']},{metrics['accuracy']['clean']['normalized']}",
    ]
    with Image.open(root / "plots/robustness/gallery.png") as png:
        assert png.format == "PNG" and "Software" not in png.info
    robustness_stage.main()
    assert {name: (root / name).read_bytes() for name in outputs} == first


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"corruptions": {"rotate": 400}},
            "robustness.corruptions.rotate = 400: input should be less than or equal to 180",
        ),
        (
            {"corruptions": {"fog": -0.5}},
            "robustness.corruptions.fog = -0.5: input should be greater than 0",
        ),
        ({"corruptions": {"snow": 1}}, "robustness.corruptions.snow: unknown key"),
        (
            {"corruptions": dict.fromkeys(SUITE)},
            "robustness.corruptions: every corruption is null; give at least one a severity",
        ),
        ({"n_images": -1}, "robustness.n_images = -1: input should be greater than or equal"),
        ({"gallery": 0}, "robustness.gallery = 0: input should be greater than or equal to 1"),
    ],
)
def test_the_stage_names_a_wrong_param_before_reading_anything(stage_dir, values, expected):
    stage_dir(robustness=values)  # no data, no model: the params fail first
    with pytest.raises(ParamsError) as error:
        robustness_stage.main()
    assert expected in str(error.value)


# ------------------------------------------------------------------------ the plots
def test_the_robustness_plots_are_deterministic_and_check_their_input(tmp_path, eight):
    names = ["clean", "fog"]
    plots.save_accuracy_bars_png(
        names, {"raw": [1.0, 0.5], "normalized": [0.9, 0.8]}, tmp_path / "a.png"
    )
    plots.save_accuracy_bars_png(
        names, {"raw": [1.0, 0.5], "normalized": [0.9, 0.8]}, tmp_path / "b.png"
    )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    plots.save_accuracy_bars_png(
        names, {"raw": [1.0, 0.4], "normalized": [0.9, 0.8]}, tmp_path / "c.png"
    )
    assert (tmp_path / "c.png").read_bytes() != (tmp_path / "a.png").read_bytes()
    with pytest.raises(ValueError, match="series 'raw' has 1 values for 2 names"):
        plots.save_accuracy_bars_png(names, {"raw": [1.0]}, tmp_path / "d.png")

    rows = [("clean", eight[:3], ["a", "b", "c"], [False, True, False])]
    plots.save_gallery_png(rows, tmp_path / "g.png", title="t", vmax=16)
    plots.save_gallery_png(rows, tmp_path / "h.png", title="t", vmax=16)
    assert (tmp_path / "g.png").read_bytes() == (tmp_path / "h.png").read_bytes()
    with pytest.raises(ValueError, match="row 'fog': expected 3 images"):
        plots.save_gallery_png([*rows, ("fog", eight[:2], ["a", "b"], [0, 0])], tmp_path / "i.png")
    assert not (tmp_path / "d.png").exists() and not (tmp_path / "i.png").exists()
