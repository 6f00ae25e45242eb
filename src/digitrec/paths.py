"""Where each stage reads and writes, relative to the project root (DVC's working dir)."""

from pathlib import Path

RAW = Path("data/raw")
PROCESSED = Path("data/processed")
FEATURES = Path("data/features")
MODEL = Path("models/model.joblib")
SAFE_MODEL = Path("models/model.skops")  # with models/model.sha256
METRICS = Path("metrics")
PLOTS = Path("plots")

DATASET_INFO = "dataset.json"
TRANSFORMER = "transformer.joblib"
