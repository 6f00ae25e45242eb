"""The schema of ``params.yaml``: every value is validated before a stage does any work.

Each stage reads exactly the top-level keys listed in :data:`STAGE_KEYS` (and ``dvc.yaml``
declares exactly those, which a test checks), so DVC re-runs a stage only when something it
reads has changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A value in params.yaml is missing, unknown or out of range."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- fetch
class FetchParams(Section):
    dataset: Literal["digits", "mnist", "optdigits"] = "digits"
    test_size: float = Field(
        0.2, gt=0, lt=1, description="digits only: stratified held-out fraction"
    )
    limit: int = Field(0, ge=0, description="keep the first N train and N test images; 0 = all")
    mirrors: list[str] = Field(
        default_factory=list,
        description="download mirrors (URL, file:// URL or directory); empty = built-in list; "
        "the DIGITREC_MIRRORS environment variable overrides",
    )


# ---------------------------------------------------------------------- preprocess
class PreprocessParams(Section):
    deskew: bool = Field(False, description="shear each digit upright by its image moments")
    center: bool = Field(False, description="move each digit's centre of mass to the centre")


# ----------------------------------------------------------------------- featurize
PositiveInt = Annotated[int, Field(ge=1)]


class HogParams(Section):
    orientations: int = Field(9, ge=1, le=36)
    pixels_per_cell: PositiveInt = 4
    cells_per_block: PositiveInt = 2
    block_norm: Literal["L1", "L1-sqrt", "L2", "L2-Hys"] = "L2-Hys"


class PcaParams(Section):
    n_components: int = Field(0, ge=0, description="0 = no PCA")
    whiten: bool = False


class FeaturizeParams(Section):
    method: Literal["raw", "hog", "raw_hog"] = "raw"
    hog: HogParams = HogParams()
    pca: PcaParams = PcaParams()
    standardize: bool = Field(False, description="scale every feature to zero mean, unit variance")


# --------------------------------------------------------------------------- train
class SvcParams(Section):
    C: float = Field(10.0, gt=0)
    kernel: Literal["rbf", "poly", "linear", "sigmoid"] = "rbf"
    gamma: Literal["scale", "auto"] | Annotated[float, Field(gt=0)] = "scale"
    degree: int = Field(3, ge=1, le=12)
    coef0: float = 0.0
    calibrate: bool = Field(
        True, description="calibrate scores into probabilities (sigmoid, 5-fold) for predict"
    )


class LinearSvcParams(Section):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(5000, ge=1)


class LogregParams(Section):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, ge=1)


class KnnParams(Section):
    n_neighbors: int = Field(3, ge=1)
    weights: Literal["uniform", "distance"] = "distance"
    p: float = Field(2.0, ge=1)


class ForestParams(Section):
    n_estimators: int = Field(300, ge=1)
    max_depth: int | None = Field(None, ge=1)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: Literal["sqrt", "log2"] | Annotated[float, Field(gt=0, le=1)] = "sqrt"


class HistGbParams(Section):
    max_iter: int = Field(300, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    max_leaf_nodes: int = Field(31, ge=2)
    l2_regularization: float = Field(0.0, ge=0)
    early_stopping: bool = True
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    n_iter_no_change: int = Field(10, ge=1)


class MlpParams(Section):
    hidden_layer_sizes: list[PositiveInt] = Field(default_factory=lambda: [256])
    alpha: float = Field(1e-4, ge=0, description="L2 regularisation")
    learning_rate_init: float = Field(1e-3, gt=0)
    batch_size: int = Field(200, ge=1)
    max_iter: int = Field(200, ge=1)
    early_stopping: bool = True
    validation_fraction: float = Field(0.1, gt=0, lt=1)
    n_iter_no_change: int = Field(10, ge=1)


ModelName = Literal[
    "svc", "linear_svc", "logreg", "knn", "random_forest", "extra_trees", "hist_gb", "mlp"
]


class TrainParams(Section):
    model: ModelName = "svc"
    positive_digit: int | None = Field(
        None, ge=0, le=9, description="train a one-vs-rest detector for this digit"
    )
    svc: SvcParams = SvcParams()
    linear_svc: LinearSvcParams = LinearSvcParams()
    logreg: LogregParams = LogregParams()
    knn: KnnParams = KnnParams()
    random_forest: ForestParams = ForestParams()
    extra_trees: ForestParams = ForestParams()
    hist_gb: HistGbParams = HistGbParams()
    mlp: MlpParams = MlpParams()

    @property
    def model_params(self) -> Section:
        """The hyperparameters of the selected model."""
        return getattr(self, self.model)


# ------------------------------------------------------------------------ evaluate
class EvaluateParams(Section):
    max_misclassified: int = Field(64, ge=0, le=400, description="images in the gallery")


class Params(Section):
    seed: int = Field(42, ge=0, lt=2**32)
    fetch: FetchParams = FetchParams()
    preprocess: PreprocessParams = PreprocessParams()
    featurize: FeaturizeParams = FeaturizeParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()


STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "fetch": ("seed", "fetch"),
    "preprocess": ("preprocess",),
    "featurize": ("seed", "featurize"),
    "train": ("seed", "train"),
    "evaluate": ("evaluate",),
}


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling; see the documented keys in README.md)"
    if error["type"] == "missing":
        return f"{key}: missing"
    return f"{key} = {error['input']!r}: {error['msg'][0].lower()}{error['msg'][1:]}"


def validate(raw: dict[str, Any], keys: tuple[str, ...] | None = None) -> Params:
    """Validate ``raw`` (the parsed YAML); only ``keys`` are read when given.

    Raises:
        ParamsError: one line per wrong value, naming the key, the value and what is allowed.
    """
    if not isinstance(raw, dict):
        raise ParamsError(f"params must be a mapping of sections, got {type(raw).__name__}")
    selected = raw if keys is None else {k: raw[k] for k in keys if k in raw}
    try:
        return Params.model_validate(selected)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors(include_url=False)]
        raise ParamsError("invalid params:\n  " + "\n  ".join(lines)) from None


def load(stage: str | None = None, path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``path``, restricted to the keys ``stage`` declares in dvc.yaml.

    Keys a stage does not read keep their defaults, so they cannot influence it.
    """
    if stage is not None and stage not in STAGE_KEYS:
        raise ValueError(f"unknown stage {stage!r}; expected one of {sorted(STAGE_KEYS)}")
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path} not found (run from the project's root)") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    try:
        return validate(raw, None if stage is None else STAGE_KEYS[stage])
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
