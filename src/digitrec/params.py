"""The schema of ``params.yaml``: every value is validated before a stage does any work.

Each stage reads exactly the top-level keys listed in :data:`STAGE_KEYS` (and ``dvc.yaml``
declares exactly those, which a test checks), so DVC re-runs a stage only when something it
reads has changed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from digitrec.errors import UserError
from digitrec.pydantic_compat import replace_fields
from digitrec.registry import DATASETS, ClassifierEntry, Registry

PARAMS_FILE = Path("params.yaml")


class ParamsError(UserError, ValueError):
    """A value in params.yaml is missing, unknown or out of range."""


class Section(BaseModel):
    # allow_inf_nan: a bound such as gt=0 lets infinity through, which no model can use
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_INT = 2**63 - 1  # larger integers overflow the C integers of numpy and scikit-learn


# --------------------------------------------------------------------------- fetch
class FetchParams(Section):
    dataset: str = "digits"  # one of digitrec.registry.DATASETS, described by them
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
    clean: bool = Field(
        True,
        description="smooth noisy images and erase lines from edge to edge (scanner streaks, "
        "ruled paper) before the model; clean images pass unchanged, and 8x8 images, too "
        "small to tell noise or lines from strokes, are left out (no step)",
    )
    deskew: bool = Field(False, description="shear each digit upright by its image moments")
    center: bool = Field(False, description="move each digit's centre of mass to the centre")


# ----------------------------------------------------------------------- featurize
PositiveInt = Annotated[int, Field(ge=1)]


class HogParams(Section):
    orientations: int = Field(6, ge=1, le=36, description="gradient orientation bins")
    pixels_per_cell: PositiveInt = Field(
        2, description="side of a HOG cell in pixels: 2 for 8x8 digits, 4 for 28x28 MNIST"
    )
    cells_per_block: PositiveInt = Field(2, description="side of a normalisation block, in cells")
    block_norm: Literal["L1", "L1-sqrt", "L2", "L2-Hys"] = Field(
        "L1-sqrt", description="block normalisation, as skimage.feature.hog names it"
    )


class GradientParams(Section):
    directions: int = Field(8, ge=2, le=64, description="standard directions over 360 degrees")
    grid: PositiveInt = Field(8, description="Gaussian pooling lattice: grid x grid samples")
    upsample: int = Field(4, ge=1, le=8, description="cubic-spline upsampling first; 1 = none")
    blur: float = Field(0.5, gt=0, description="pooling Gaussian's standard deviation, in cells")
    power: float = Field(0.5, gt=0, le=1, description="exponent applied to the pooled values")


class PcaParams(Section):
    n_components: int = Field(0, ge=0, description="0 = no PCA")
    whiten: bool = Field(False, description="scale the components to unit variance")


class FeaturizeParams(Section):
    method: Literal["raw", "hog", "raw_hog", "gradient", "raw_gradient"] = Field(
        "raw_hog",
        description="raw: the pixels; hog: HOG; raw_hog: pixels and HOG side by side; "
        "gradient: gradient directions, Gaussian-pooled (Liu et al. 2003); raw_gradient: "
        "pixels and gradient directions side by side",
    )
    hog: HogParams = HogParams()
    gradient: GradientParams = GradientParams()
    pca: PcaParams = PcaParams()
    standardize: bool = Field(False, description="scale every feature to zero mean, unit variance")


# --------------------------------------------------------------------------- train
_C = "inverse regularisation strength"
_EARLY_STOPPING = "hold out validation_fraction of the training data, stop when it stops improving"
_VALIDATION = "early stopping: the fraction held out"
_NO_CHANGE = "early stopping: iterations without improvement before stopping"


class SvcParams(Section):
    C: float = Field(10.0, gt=0, description=_C)
    kernel: Literal["rbf", "poly", "linear", "sigmoid"] = Field("rbf", description="the kernel")
    gamma: Literal["scale", "auto"] | Annotated[float, Field(gt=0)] = Field(
        "scale", description="kernel coefficient: scale, auto (as scikit-learn's SVC) or a number"
    )
    degree: int = Field(3, ge=1, le=12, description="poly kernel: the degree")
    coef0: float = Field(0.0, description="poly and sigmoid kernels: the constant term")
    calibrate: bool = Field(
        True, description="calibrate scores into probabilities (sigmoid, 5-fold) for predict"
    )
    virtual_shift: int = Field(
        0, ge=0, le=3, description="virtual support vectors: shift them this many pixels; 0 = off"
    )
    virtual_directions: Literal[4, 8] = Field(
        8, description="virtual support vectors: 4 (along the axes) or 8 directions"
    )
    virtual_rotate: float = Field(
        0.0,
        ge=0,
        le=30,
        description="virtual support vectors: also copies rotated by +/- this many degrees; "
        "0 = none",
    )
    virtual_scale: float = Field(
        0.0,
        ge=0,
        le=0.3,
        description="virtual support vectors: also copies scaled by 1 + and 1 - this; 0 = none",
    )
    virtual_thickness: float = Field(
        0.0,
        ge=0,
        le=1,
        description="virtual support vectors: also copies with strokes this much of the way "
        "to a grey dilation and to an erosion by a 3x3 cross; 0 = none",
    )
    cascade_margin: float | None = Field(
        None,
        gt=0,
        description="with virtual support vectors: the cascade's first SVM labels the images "
        "whose vote is won by this margin in every duel, the final SVM the rest; null = off",
    )
    cascade_features: int | None = Field(
        None,
        ge=1,
        description="with cascade_margin: the first SVM is fitted on only this many leading "
        "features (PCA components) instead of being the first round; null = the first round",
    )

    @property
    def virtual(self) -> bool:
        """Whether the virtual support vector method is on (any kind of copy)."""
        return bool(
            self.virtual_shift or self.virtual_rotate or self.virtual_scale
            or self.virtual_thickness
        )  # fmt: skip

    @model_validator(mode="after")
    def _cascade_needs_virtual(self) -> SvcParams:
        if self.cascade_margin is not None and not (self.virtual and not self.calibrate):
            raise ValueError(
                f"cascade_margin = {self.cascade_margin!r} needs virtual support vectors "
                f"(virtual_shift >= 1, or virtual_rotate, virtual_scale or virtual_thickness "
                f"> 0: the cascade's SVMs are the virtual SV method's) and calibrate: false; "
                f"got virtual_shift = {self.virtual_shift}, calibrate = {self.calibrate}"
            )
        if self.cascade_features is not None and self.cascade_margin is None:
            raise ValueError(
                f"cascade_features = {self.cascade_features} needs a cascade_margin; got null"
            )
        return self


class LinearSvcParams(Section):
    C: float = Field(1.0, gt=0, description=_C)
    max_iter: int = Field(5000, ge=1, description="iterations of the solver at most")


class LogregParams(Section):
    C: float = Field(1.0, gt=0, description=_C)
    max_iter: int = Field(2000, ge=1, description="iterations of the solver at most")


class KnnParams(Section):
    n_neighbors: int = Field(3, ge=1, description="neighbours that vote")
    weights: Literal["uniform", "distance"] = Field(
        "distance", description="uniform: one vote each; distance: weighted by 1 / distance"
    )
    p: float = Field(2.0, ge=1, description="Minkowski power: 1 = Manhattan, 2 = Euclidean")


class ForestParams(Section):
    n_estimators: int = Field(300, ge=1, description="trees")
    max_depth: int | None = Field(None, ge=1, description="depth of a tree at most; null = none")
    min_samples_leaf: int = Field(1, ge=1, description="training samples in a leaf at least")
    max_features: Literal["sqrt", "log2"] | Annotated[float, Field(gt=0, le=1)] = Field(
        "sqrt", description="features tried per split: sqrt or log2 of all, or a fraction"
    )


class HistGbParams(Section):
    max_iter: int = Field(300, ge=1, description="boosting iterations at most")
    learning_rate: float = Field(0.1, gt=0, description="shrinkage of each tree")
    max_leaf_nodes: int = Field(31, ge=2, description="leaves per tree at most")
    l2_regularization: float = Field(0.0, ge=0, description="L2 penalty on the leaf values")
    early_stopping: bool = Field(True, description=_EARLY_STOPPING)
    validation_fraction: float = Field(0.1, gt=0, lt=1, description=_VALIDATION)
    n_iter_no_change: int = Field(10, ge=1, description=_NO_CHANGE)


class MlpParams(Section):
    hidden_layer_sizes: list[PositiveInt] = Field(
        default_factory=lambda: [256], description="units of each hidden layer"
    )
    alpha: float = Field(1e-4, ge=0, description="L2 regularisation")
    learning_rate_init: float = Field(1e-3, gt=0, description="Adam's initial learning rate")
    batch_size: int = Field(200, ge=1, description="samples per minibatch")
    max_iter: int = Field(200, ge=1, description="epochs at most")
    early_stopping: bool = Field(True, description=_EARLY_STOPPING)
    validation_fraction: float = Field(0.1, gt=0, lt=1, description=_VALIDATION)
    n_iter_no_change: int = Field(10, ge=1, description=_NO_CHANGE)


# ----------------------------------------------------------------- the classifiers
CLASSIFIERS: Registry[ClassifierEntry] = Registry("classifier")
"""Every classifier ``train.model`` accepts, in the order docs/parameters.md lists them: its
name, the params model of its section ``train.<name>`` and its builder. A classifier is a
params model above and one entry here (or ``CLASSIFIERS.register(...)`` at run time)."""

_BUILDERS = "digitrec.models.registry"  # the builders import scikit-learn: named, not imported
for _entry in (
    ClassifierEntry("svc", SvcParams, f"{_BUILDERS}:build_svc"),
    ClassifierEntry("linear_svc", LinearSvcParams, f"{_BUILDERS}:build_linear_svc"),
    ClassifierEntry("logreg", LogregParams, f"{_BUILDERS}:build_logreg"),
    ClassifierEntry("knn", KnnParams, f"{_BUILDERS}:build_knn"),
    ClassifierEntry("random_forest", ForestParams, f"{_BUILDERS}:build_random_forest"),
    ClassifierEntry("extra_trees", ForestParams, f"{_BUILDERS}:build_extra_trees"),
    ClassifierEntry("hist_gb", HistGbParams, f"{_BUILDERS}:build_hist_gb"),
    ClassifierEntry("mlp", MlpParams, f"{_BUILDERS}:build_mlp"),
):
    CLASSIFIERS.register(_entry)


class TrainParams(Section):
    """``model`` is one of the names in :data:`CLASSIFIERS`; each classifier's
    hyperparameters are the section of its name (one field per entry, added by
    ``_sync_schema``)."""

    model: str = Field(
        "svc", description="the classifier; its hyperparameters are in the section of its name"
    )
    positive_digit: int | None = Field(
        None, ge=0, le=9, description="train a one-vs-rest detector for this digit"
    )

    if TYPE_CHECKING:  # the classifiers' sections (train.svc, train.knn, ...)

        def __getattr__(self, name: str) -> Any: ...

    @property
    def model_params(self) -> Section:
        """The hyperparameters of the selected model."""
        return getattr(self, self.model)

    @model_validator(mode="after")
    def _cascade_is_multiclass(self) -> TrainParams:
        if self.positive_digit is not None and self.svc.cascade_margin is not None:
            raise ValueError(
                "svc.cascade_margin needs a multi-class SVC: set positive_digit or "
                "svc.cascade_margin to null"
            )
        return self


# ------------------------------------------------------------------------ evaluate
class EvaluateParams(Section):
    max_misclassified: int = Field(64, ge=0, le=400, description="images in the gallery")


# ---------------------------------------------------------------------- robustness
def _severity(default: float, le: float, what: str) -> Any:
    return Field(default, gt=0, le=le, description=f"{what}; null = skip this corruption")


class CorruptionParams(Section):
    """One severity per corruption of :data:`digitrec.evaluation.robustness.SUITE` (null = skipped);
    lengths are in boxes (the side the training digits fill: 20 px MNIST, 8 px digits)."""

    gaussian_noise: float | None = _severity(0.3, 1, "standard deviation, of the full range")
    impulse_noise: float | None = _severity(0.1, 1, "fraction of pixels set to 0 or full ink")
    gaussian_blur: float | None = _severity(0.05, 0.5, "standard deviation, in boxes")
    motion_blur: float | None = _severity(0.25, 1, "length, in boxes")
    rotate: float | None = _severity(20, 180, "degrees, either way")
    shear: float | None = _severity(0.3, 2, "horizontal shear, either way")
    scale: float | None = _severity(0.7, 4, "scale factor about the centre")
    translate: float | None = _severity(0.2, 1, "distance, in boxes")
    thicken: float | None = _severity(0.05, 0.25, "dilation radius, in boxes")
    thin: float | None = _severity(0.05, 0.25, "erosion radius, in boxes")
    stripes: int | None = _severity(2, 8, "number of vertical stripes")
    dotted_lines: int | None = _severity(1, 8, "number of dotted lines")
    canny_edges: float | None = _severity(
        0.05, 0.5, "Canny's Gaussian standard deviation, in boxes"
    )
    fog: float | None = _severity(0.5, 1, "haze strength, of the full range")
    brightness: float | None = _severity(0.3, 1, "level added to every pixel, of the full range")

    def selected(self) -> dict[str, float]:
        """Corruption name -> severity, in suite order, skipping the null ones."""
        return {name: value for name, value in self if value is not None}

    @model_validator(mode="after")
    def _at_least_one(self) -> CorruptionParams:
        if not self.selected():
            raise ValueError("every corruption is null; give at least one a severity")
        return self


class RobustnessParams(Section):
    corruptions: CorruptionParams = CorruptionParams()
    n_images: int = Field(0, ge=0, description="measure the first N test images; 0 = all")
    gallery: int = Field(8, ge=1, le=32, description="images per row of the gallery")


# -------------------------------------------------------------------------- search
# A search candidate overrides keys of these sections; the data (fetch) stays as fetched.
SEARCHABLE = ("preprocess", "featurize", "train")


_DEFAULT_SPACE: dict[str, list[Any]] = {"train.svc.C": [1, 10], "preprocess.deskew": [False, True]}


class SearchParams(Section):
    method: Literal["grid", "random", "halving"] = Field(
        "grid",
        description="grid: every combination; random: n_iter combinations drawn at random; "
        "halving: every combination on a few samples, the best 1/factor on more each round",
    )
    space: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=lambda: dict(_DEFAULT_SPACE),
        description="candidate values by params path as `dvc exp run -S` takes it, e.g. "
        "train.svc.C: [1, 10]; keys under preprocess, featurize and train; {} = params.yaml "
        "as it is",
    )
    folds: int = Field(5, ge=2, le=100, description="stratified, shuffled with seed")
    n_iter: int = Field(10, ge=1, description="random: combinations tried")
    factor: int = Field(3, ge=2, description="halving: 1/factor of candidates go on each round")
    max_samples: int = Field(
        2000,
        ge=0,
        description="search on a stratified subset of at most N training images; 0 = all",
    )

    @field_validator("space", mode="before")
    @classmethod
    def _flatten(cls, space: Any) -> Any:
        """Accept nested sections too: {train: {svc: {C: [..]}}} is {train.svc.C: [..]}."""
        return flatten_space(space) if isinstance(space, Mapping) else space


# ------------------------------------------------------------------------- compute
class ComputeParams(Section):
    backend: Literal["local", "dask"] = Field(
        "local", description="local: this machine (joblib); dask: a Dask cluster (joblib's dask)"
    )
    scheduler: str | None = Field(
        None,
        min_length=1,
        description="dask: the scheduler's address, e.g. tcp://host:8786; null = start a "
        "LocalCluster here with n_jobs single-threaded worker processes",
    )
    n_jobs: int = Field(
        1, ge=1, description="worker processes on this machine (local, or dask's LocalCluster)"
    )
    chunk_size: int = Field(
        1000, ge=1, description="featurize: images transformed per task (bounds task memory)"
    )


class Params(Section):
    seed: int = Field(
        42, ge=0, lt=2**32, description="every random state: the digits split, PCA, the models"
    )
    # factories: the registries may change these two sections' fields (_sync_schema)
    fetch: FetchParams = Field(default_factory=FetchParams)
    preprocess: PreprocessParams = PreprocessParams()
    featurize: FeaturizeParams = FeaturizeParams()
    train: TrainParams = Field(default_factory=TrainParams)
    evaluate: EvaluateParams = EvaluateParams()
    search: SearchParams = SearchParams()
    compute: ComputeParams = ComputeParams()
    robustness: RobustnessParams = RobustnessParams()


# ------------------------------------------------------------ schema from the registries
# The fields as declared: the registries restrict fetch.dataset and train.model to their
# names and add train's sections after model and positive_digit.
_DECLARED = {model: dict(model.model_fields) for model in (FetchParams, TrainParams)}


def _one_of(registry: Registry[Any], declared: FieldInfo, description: str) -> FieldInfo:
    """``declared`` (its default), accepting exactly the names in ``registry``."""
    names: Any = Literal[tuple(registry)]
    return FieldInfo.from_annotated_attribute(
        names, Field(declared.default, description=description)
    )


def _sync_schema() -> None:
    """Rebuild the schema from the registries: ``fetch.dataset`` accepts the names in
    :data:`~digitrec.registry.DATASETS`, ``train.model`` those in :data:`CLASSIFIERS`, and
    ``train`` has one section per classifier (its params model, with its defaults).
    Runs at import and after every registration; each class keeps its identity, so
    ``TrainParams`` imported anywhere is the current schema."""
    fetch, train = _DECLARED[FetchParams], _DECLARED[TrainParams]
    datasets = "; ".join(f"{d.name}: {d.description}" for d in DATASETS.values())
    replace_fields(FetchParams, {**fetch, "dataset": _one_of(DATASETS, fetch["dataset"], datasets)})
    model = _one_of(CLASSIFIERS, train["model"], train["model"].description or "")
    sections = {
        c.name: FieldInfo.from_annotated_attribute(c.params, Field(default_factory=c.params))
        for c in CLASSIFIERS.values()
    }
    replace_fields(TrainParams, {**train, "model": model, **sections})
    Params.model_rebuild(force=True)


_sync_schema()
CLASSIFIERS.watch(_sync_schema)
DATASETS.watch(_sync_schema)


STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "fetch": ("seed", "fetch"),
    "preprocess": ("preprocess",),
    "featurize": ("seed", "featurize", "compute"),
    "train": ("seed", "train"),
    "evaluate": ("evaluate",),
    "robustness": ("seed", "robustness"),
    "search": ("seed", *SEARCHABLE, "search", "compute"),
}


# ------------------------------------------------------------------ dotted overrides
def flatten_space(space: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"svc.C": [1]}}`` -> ``{"train.svc.C": [1]}``; a key given twice fails."""
    flat: dict[str, Any] = {}
    for key, value in space.items():
        path = f"{prefix}{key}"
        items = flatten_space(value, path + ".") if isinstance(value, Mapping) else {path: value}
        for name, values in items.items():
            if name in flat:
                raise ValueError(f"{name} is given twice (once nested, once dotted)")
            flat[name] = values
    return flat


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _section_at(path: list[str]) -> type[BaseModel] | None:
    """The Section class at ``path`` in the schema, or None when it is not a section."""
    model: type[BaseModel] = Params
    for part in path:
        field = model.model_fields.get(part)
        annotation = None if field is None else field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, Section)):
            return None
        model = annotation
    return model


def check_key(key: str, sections: tuple[str, ...] | None = SEARCHABLE) -> list[str]:
    """``key`` must name one value (not a section) of params.yaml, under one of
    ``sections`` (the searchable ones by default; None: anywhere).

    Returns:
        ``key``'s parts.

    Raises:
        ParamsError: naming the key and the keys allowed where it went wrong.
    """
    parts = key.split(".")
    if sections is None:
        label = key
    else:
        label = f"search.space.{key}"
        if parts[0] not in sections:
            raise ParamsError(
                f"{label}: cannot be searched; expected a key under "
                f"{', '.join(sections)} (e.g. train.svc.C)"
            )
    for depth in range(1, len(parts) + 1):
        parent = _section_at(parts[: depth - 1])
        assert parent is not None
        if parts[depth - 1] not in parent.model_fields:
            where = ".".join(parts[: depth - 1])
            raise ParamsError(
                f"{label}: unknown key {parts[depth - 1]!r}; allowed under "
                f"{where or 'the top level'}: {', '.join(_field_names(parent))}"
                + _closest(parts[depth - 1], _field_names(parent))
            )
        if depth < len(parts) and _section_at(parts[:depth]) is None:
            raise ParamsError(f"{label}: {'.'.join(parts[:depth])} is a value, not a section")
    section = _section_at(parts)
    if section is not None:
        raise ParamsError(
            f"{label}: a section, not a value; allowed under {key}: "
            f"{', '.join(_field_names(section))}"
        )
    return parts


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    for part in reversed(parts):
        value = {part: value}
    return value


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def check_space(space: Mapping[str, list[Any]]) -> None:
    """Every key of a search space names a searchable value and every candidate is valid.

    Raises:
        ParamsError: one line per problem, naming the key, the value and what is allowed.
    """
    lines = []
    for key, values in space.items():
        try:
            parts = check_key(key)
        except ParamsError as exc:
            lines.append(str(exc))
            continue
        for value in values:
            try:
                Params.model_validate(_nest(parts, value))
            except ValidationError as exc:
                lines += [f"search.space.{_describe(e)}" for e in exc.errors(include_url=False)]
    if lines:
        raise ParamsError("invalid params:\n  " + "\n  ".join(lines))


def override(
    params: Params,
    overrides: Mapping[str, Any],
    sections: tuple[str, ...] | None = SEARCHABLE,
) -> Params:
    """``params`` with dotted ``overrides`` applied (as ``dvc exp run -S key=value``), validated.

    ``sections``: where keys may point (the searchable sections by default; None: anywhere).

    Raises:
        ParamsError: a key is unknown or outside ``sections``, or a value is invalid.
    """
    raw = params.model_dump()
    for key, value in overrides.items():
        raw = _merge(raw, _nest(check_key(key, sections), value))
    return validate(raw)


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "value_error":
        return f"{key}: {error['ctx']['error']}"
    if error["type"] == "extra_forbidden":
        parent = _section_at([str(part) for part in error["loc"][:-1]])
        where = "under " + ".".join(str(part) for part in error["loc"][:-1])
        allowed = _field_names(parent) if parent else []
        return unknown_key(key, str(error["loc"][-1]), allowed, where)
    if error["type"] == "missing":
        return f"{key}: missing"
    return f"{key} = {error['input']!r}: {error['msg'][0].lower()}{error['msg'][1:]}"


def unknown_key(key: str, name: str, allowed: list[str], where: str) -> str:
    """The line for an unknown ``key`` (its last part ``name``), naming the closest of
    ``allowed``."""
    return f"{key}: unknown key; allowed {where}: {', '.join(allowed)}{_closest(name, allowed)}"


def _closest(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1) or difflib.get_close_matches(
        name.lower(), [a.lower() for a in allowed], n=1
    )
    if not close:
        return ""
    match = next(a for a in allowed if a.lower() == close[0].lower())
    return f"; did you mean {match!r}?"


def _huge_integers(value: Any, key: str = "") -> Iterator[str]:
    """A line for each integer in ``value`` (nested) beyond +-MAX_INT, naming its key."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _huge_integers(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _huge_integers(v, f"{key}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        shown = (
            str(value)
            if len(str(value)) <= 24
            else f"{str(value)[:12]}...({len(str(value))} digits)"
        )
        yield f"{key} = {shown}: too large; integers must lie within +-{MAX_INT}"


def validate(raw: dict[str, Any], keys: tuple[str, ...] | None = None) -> Params:
    """Validate ``raw`` (the parsed YAML); only ``keys`` are read when given. Unknown keys
    are refused everywhere, the top level included, even when ``keys`` would skip them.

    Raises:
        ParamsError: one line per wrong value, naming the key, the value and what is allowed.
    """
    if not isinstance(raw, dict):
        raise ParamsError(f"params must be a mapping of sections, got {type(raw).__name__}")
    top = _field_names(Params)
    unknown = [unknown_key(str(k), str(k), top, "at the top level") for k in raw if k not in top]
    if unknown or (huge := list(_huge_integers(raw))):
        raise ParamsError("invalid params:\n  " + "\n  ".join(unknown or huge))
    selected = raw if keys is None else {k: raw[k] for k in keys if k in raw}
    try:
        params = Params.model_validate(selected)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors(include_url=False)]
        raise ParamsError("invalid params:\n  " + "\n  ".join(lines)) from None
    check_space(params.search.space)
    return params


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
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ParamsError(f"{path}: cannot read it: {reason}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path} is not valid YAML: {exc}") from None
    try:
        return validate(raw, None if stage is None else STAGE_KEYS[stage])
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None
