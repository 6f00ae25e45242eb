"""The datasets and classifiers digitrec knows, each listed once, by name.

:data:`DATASETS` lists every dataset here: its name, a one-line description, the raw image
format (:class:`~digitrec.imagespec.ImageSpec`), its remote files and its loader.
``digitrec.params.CLASSIFIERS`` lists every classifier, next to the params models of their
hyperparameters. ``fetch.dataset`` and ``train.model`` (with one section per classifier)
are validated against these registries, and docs/parameters.md is generated from that
schema, so an entry added here (or registered at run time) is accepted, built and
documented with nothing else to edit.

This module is light (no numpy, no scikit-learn): stages import it through
``digitrec.params``. Builders, loaders and sources may be given as ``"module:attribute"``
strings, imported only when a classifier is built or a dataset loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from digitrec.imagespec import DIGITS, MNIST, ImageSpec

if TYPE_CHECKING:
    from pydantic import BaseModel


def resolve(target: Any) -> Any:
    """``target``, or the attribute a ``"module:attribute"`` string names (imported now)."""
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ClassifierEntry:
    """A classifier: ``train.model: <name>``, its hyperparameters in section ``train.<name>``.

    Attributes:
        name: its name in params.yaml (a valid identifier).
        params: the pydantic model of its section (a ``digitrec.params.Section``: every
            field with a default and a description; the docs show them).
        builder: ``(params, seed) -> unfitted estimator``, or its ``"module:function"``;
            ``params`` is a validated instance of ``params``, ``seed`` every random state.
    """

    name: str
    params: type[BaseModel]
    builder: Callable[[Any, int], Any] | str

    def build(self, params: Any, seed: int) -> Any:
        """The unfitted estimator for validated ``params``."""
        return resolve(self.builder)(params, seed)


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset ``fetch.dataset`` may name.

    Attributes:
        name: its name in params.yaml.
        description: one line for docs/parameters.md (size, image format, origin).
        spec: the raw image format its images have (and a model trained on it expects).
        loader: ``(test_size, seed, mirrors, cache_dir, progress) -> (train_images,
            train_labels, test_images, test_labels)``, or its ``"module:function"``; called
            with keywords by :func:`digitrec.data.datasets.load_dataset`, which checks
            and trims the arrays.
        source: its remote files and default mirrors (a
            :class:`~digitrec.data.sources.DatasetSource`, or its ``"module:attribute"``);
            None for a dataset that is not downloaded.
    """

    name: str
    description: str
    spec: ImageSpec
    loader: Callable[..., Any] | str
    source: Any = None  # a DatasetSource (digitrec.data imports numpy: not imported here)

    def load(self, **arguments: Any) -> Any:
        """Its loader's train and test arrays (``test_size``, ``seed``, ``mirrors``,
        ``cache_dir``, ``progress``)."""
        return resolve(self.loader)(**arguments)

    def files(self) -> Any:
        """Its remote files and mirrors (imported now), or None."""
        return resolve(self.source)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


Entry = TypeVar("Entry", bound=_Named)


class Registry(Mapping[str, Entry], Generic[Entry]):
    """Entries by name, in registration order. Callbacks given to :meth:`watch` run after
    each change (``digitrec.params`` rebuilds its schema from them)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._watchers: list[Callable[[], None]] = []

    def __getitem__(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(repr(n) for n in self._entries)
            raise KeyError(f"unknown {self.kind} {name!r}; expected one of {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def register(self, entry: Entry) -> Entry:
        """Add ``entry``; its name must be new."""
        if not entry.name.isidentifier():
            raise ValueError(f"{self.kind} name {entry.name!r} is not a valid identifier")
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        self._entries[entry.name] = entry
        self._changed()
        return entry

    def unregister(self, name: str) -> Entry:
        """Remove the entry called ``name`` and return it."""
        entry = self[name]
        del self._entries[name]
        self._changed()
        return entry

    @contextmanager
    def registered(self, entry: Entry) -> Iterator[Entry]:
        """``entry`` registered for the duration of the ``with`` block, then removed."""
        self.register(entry)
        try:
            yield entry
        finally:
            self.unregister(entry.name)

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change."""
        self._watchers.append(callback)

    def _changed(self) -> None:
        for callback in self._watchers:
            callback()


DATASETS: Registry[DatasetEntry] = Registry("dataset")
"""Every dataset ``fetch.dataset`` accepts, in the order docs/parameters.md lists them."""

for _entry in (
    DatasetEntry(
        "digits",
        "scikit-learn's bundled 8x8 digits (no network)",
        DIGITS,
        loader="digitrec.data.datasets:load_digits",
    ),
    DatasetEntry(
        "mnist",
        "28x28, 60,000/10,000",
        MNIST,
        loader="digitrec.data.datasets:load_mnist",
        source="digitrec.data.sources:MNIST_SOURCE",
    ),
    DatasetEntry(
        "optdigits",
        "UCI's 8x8, 3,823/1,797 from other writers",
        DIGITS,
        loader="digitrec.data.datasets:load_optdigits",
        source="digitrec.data.sources:OPTDIGITS_SOURCE",
    ),
):
    DATASETS.register(_entry)
