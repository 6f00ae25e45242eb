"""Arrays derived from an estimator's fitted state, made once, kept in memory, never saved."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# Where an estimator keeps them: left out of its pickled (and skops) state
KEY = "_derived_cache"


class KeepsDerived:
    """Mixin for scikit-learn estimators: :meth:`_derived` caches a value computed from
    fitted attributes on the instance, until any of them is replaced (as a refit does),
    and ``__getstate__`` leaves the cache out, so a saved model is the same before and
    after use."""

    def _derived(self, name: str, sources: Sequence[Any], make: Callable[[], Any]) -> Any:
        """``make()``, made again only when an object of ``sources`` is not the one it
        was made from."""
        cache = self.__dict__.setdefault(KEY, {})
        hit = cache.get(name)
        if hit is None or any(a is not b for a, b in zip(hit[0], sources, strict=True)):
            hit = cache[name] = (tuple(sources), make())
        return hit[1]

    def __getstate__(self):
        state = dict(super().__getstate__())  # type: ignore[call-overload]
        state.pop(KEY, None)
        return state
