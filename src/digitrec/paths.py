"""Where each stage reads and writes, relative to the project root (DVC's working dir)."""

from pathlib import Path

RAW = Path("data/raw")
PROCESSED = Path("data/processed")
FEATURES = Path("data/features")
MODEL = Path("models/model.skops")  # the model: checksummed skops, with model.sha256
MODEL_JOBLIB = Path("models/model.joblib")  # the same model as a pickle, for Python users
METRICS = Path("metrics")
PLOTS = Path("plots")

DATASET_INFO = "dataset.json"
TRANSFORMER = "transformer.joblib"
