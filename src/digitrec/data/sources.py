"""Canonical remote files (with their size and sha256) and default public mirrors; each
dataset's entry in :data:`digitrec.registry.DATASETS` names its source here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset, identified by name and verified by size and sha256."""

    dataset: str
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DatasetSource:
    """The files of a downloadable dataset and the mirrors tried by default, in order."""

    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]

    def file(self, name: str) -> RemoteFile:
        """The file called ``name``; ``KeyError`` lists the known names otherwise."""
        for remote in self.files:
            if remote.name == name:
                return remote
        known = ", ".join(repr(f.name) for f in self.files)
        raise KeyError(f"{self.name} has no file {name!r}; expected one of {known}.")


MNIST_SOURCE = DatasetSource(
    name="mnist",
    files=(
        RemoteFile(
            "mnist",
            "train-images-idx3-ubyte.gz",
            9912422,
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        RemoteFile(
            "mnist",
            "train-labels-idx1-ubyte.gz",
            28881,
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        RemoteFile(
            "mnist",
            "t10k-images-idx3-ubyte.gz",
            1648877,
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        RemoteFile(
            "mnist",
            "t10k-labels-idx1-ubyte.gz",
            4542,
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
)

OPTDIGITS_SOURCE = DatasetSource(
    name="optdigits",
    files=(
        RemoteFile(
            "optdigits",
            "optdigits.tra",
            563639,
            "e1b683cc211604fe8fd8c4417e6a69f31380e0c61d4af22e93cc21e9257ffedd",
        ),
        RemoteFile(
            "optdigits",
            "optdigits.tes",
            264712,
            "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8",
        ),
    ),
    mirrors=("https://archive.ics.uci.edu/ml/machine-learning-databases/optdigits/",),
)
