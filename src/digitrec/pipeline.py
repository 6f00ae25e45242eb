"""Assemble the one model artifact: a scikit-learn Pipeline from raw images to labels.

The DVC stages fit it piece by piece (preprocess, featurize, train), each piece on the
training data only, and :func:`assemble` joins the fitted pieces. The result is what
``evaluate`` measures on raw test images and what ``predict`` loads.
"""

from __future__ import annotations

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metaestimators import available_if

from digitrec.imagespec import ImageSpec
from digitrec.models.registry import fit_classifier
from digitrec.params import FeaturizeParams, Params, PreprocessParams
from digitrec.sklearn_compat import final_step, pipeline_transforms
from digitrec.transforms.cleaning import roomy
from digitrec.transforms.features import (
    PCA,
    GradientDirections,
    Hog,
    Pixels,
    SequentialFeatureUnion,
)
from digitrec.transforms.preprocessing import Center, Clean, Deskew, ImageScaler


class DigitPipeline(Pipeline):
    """The model: a :class:`sklearn.pipeline.Pipeline` from raw images to labels whose
    ``predict``, ``predict_proba`` and ``decision_function`` skip scikit-learn's per-call
    check that the pipeline is fitted once its last step is.

    scikit-learn's check asks every step for its tags on every call, a cost that matters
    for one image (``bench/predict.py --breakdown`` times both pipelines in turn). The
    steps run as in ``Pipeline``, so the results are the same (tests/test_pipeline.py);
    with routed parameters or metadata routing on, or an unfitted last step, it is the
    parent's code.

    A last step with ``predict_through`` (:class:`digitrec.models.cascade.SVCCascade`) predicts
    through the step before it: a cascade whose first SVM reads only the leading PCA
    components has only those projected for the samples that SVM labels.
    """

    def predict(self, X, **params):
        return self._infer("predict", X, params)

    @available_if(lambda self: hasattr(final_step(self), "predict_proba"))
    def predict_proba(self, X, **params):
        return self._infer("predict_proba", X, params)

    @available_if(lambda self: hasattr(final_step(self), "decision_function"))
    def decision_function(self, X, **params):
        return self._infer("decision_function", X, params)

    def _infer(self, method: str, X, params: dict):
        last = final_step(self)
        if (
            params
            or get_config()["enable_metadata_routing"]
            or last == "passthrough"
            or not _has_fitted_state(last)
        ):
            return getattr(super(), method)(X, **params)
        transforms = pipeline_transforms(self)
        through = method == "predict" and bool(transforms) and hasattr(last, "predict_through")
        for transform in transforms[:-1] if through else transforms:
            X = transform.transform(X)
        if through:  # the last step applies the step before it, as it needs
            return last.predict_through(transforms[-1], X)
        return getattr(last, method)(X)


def _has_fitted_state(estimator) -> bool:
    """scikit-learn's own test of a fitted estimator, without asking for its tags."""
    if hasattr(estimator, "__sklearn_is_fitted__"):
        return estimator.__sklearn_is_fitted__()
    return any(k.endswith("_") and not k.startswith("__") for k in vars(estimator))


def build_preprocessor(spec: ImageSpec, params: PreprocessParams) -> Pipeline:
    """Raw images in ``spec``'s format -> cleaned images with intensities in [0, 1]."""
    steps: list[tuple[str, BaseEstimator]] = [("scale", ImageScaler(spec))]
    if params.clean and roomy(spec.shape, spec):
        steps.append(("clean", Clean()))
    if params.deskew:
        steps.append(("deskew", Deskew()))
    if params.center:
        steps.append(("center", Center()))
    return Pipeline(steps)


def build_featurizer(params: FeaturizeParams, seed: int) -> Pipeline:
    """Preprocessed images -> feature rows (pixels, HOG, both, gradient directions, or
    pixels and gradient directions; optional PCA, scaling)."""
    hog = Hog(
        orientations=params.hog.orientations,
        pixels_per_cell=params.hog.pixels_per_cell,
        cells_per_block=params.hog.cells_per_block,
        block_norm=params.hog.block_norm,
    )
    gradient = GradientDirections(**params.gradient.model_dump())
    extractor: BaseEstimator = {
        "raw": Pixels(),
        "hog": hog,
        "raw_hog": SequentialFeatureUnion([("pixels", Pixels()), ("hog", hog)]),
        "gradient": gradient,
        "raw_gradient": SequentialFeatureUnion([("pixels", Pixels()), ("gradient", gradient)]),
    }[params.method]
    steps: list[tuple[str, BaseEstimator]] = [("features", extractor)]
    if params.pca.n_components:
        steps.append(
            ("pca", PCA(params.pca.n_components, whiten=params.pca.whiten, random_state=seed))
        )
    if params.standardize:
        steps.append(("standardize", StandardScaler()))
    return Pipeline(steps)


def feature_count(featurize: FeaturizeParams, shape: tuple[int, int]) -> int:
    """Features per image before PCA (made of one blank image: exact for every method)."""
    plain = featurize.model_copy(
        update={"pca": featurize.pca.model_copy(update={"n_components": 0})}
    )
    return build_featurizer(plain, 0).fit_transform(np.zeros((1, *shape))).shape[1]


def assemble(
    preprocessor: Pipeline, featurizer: Pipeline, classifier: BaseEstimator
) -> DigitPipeline:
    """Join fitted pieces into one fitted pipeline: raw image -> label."""
    return DigitPipeline([*preprocessor.steps, *featurizer.steps, ("classifier", classifier)])


def fit_pipeline(params: Params, spec: ImageSpec, images, labels) -> DigitPipeline:
    """Fit the whole model on raw training images in one go, exactly as the preprocess,
    featurize and train stages do piece by piece (for cross-validation and search)."""
    preprocessor = build_preprocessor(spec, params.preprocess).fit(images)
    processed = preprocessor.transform(images)
    featurizer = build_featurizer(params.featurize, params.seed)
    features = featurizer.fit_transform(processed)
    classifier = fit_classifier(params.train, params.seed, features, labels, processed, featurizer)
    return assemble(preprocessor, featurizer, classifier)


def image_spec(model: Pipeline) -> ImageSpec:
    """The raw image format a fitted model expects (held by its first step)."""
    first = model.steps[0][1]
    if not isinstance(first, ImageScaler):
        raise TypeError("not a digitrec model: its first step is not an ImageScaler")
    return first.spec
