"""Fetch and parse the digit datasets: bundled ``digits``, ``mnist`` and ``optdigits``."""

from digitrec.data.datasets import DATASETS, Dataset, load_dataset
from digitrec.data.download import default_cache_dir, fetch_file, resolve_mirrors
from digitrec.data.errors import DataFormatError, FetchError
from digitrec.data.idx import read_idx, read_idx_gz
from digitrec.data.optdigits import read_optdigits
from digitrec.data.sources import (
    MNIST_SOURCE,
    OPTDIGITS_SOURCE,
    DatasetSource,
    RemoteFile,
)

__all__ = [
    "DATASETS",
    "MNIST_SOURCE",
    "OPTDIGITS_SOURCE",
    "DataFormatError",
    "Dataset",
    "DatasetSource",
    "FetchError",
    "RemoteFile",
    "default_cache_dir",
    "fetch_file",
    "load_dataset",
    "read_idx",
    "read_idx_gz",
    "read_optdigits",
    "resolve_mirrors",
]
