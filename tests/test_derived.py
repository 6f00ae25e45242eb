import pickle

import numpy as np
from sklearn.base import BaseEstimator

from digitrec.derived import KEY, KeepsDerived


class Doubler(KeepsDerived, BaseEstimator):
    def fit(self, x):
        self.values_ = np.asarray(x, dtype=float)
        return self

    def doubled(self, calls: list) -> np.ndarray:
        return self._derived(
            "doubled", (self.values_,), lambda: calls.append(1) or 2 * self.values_
        )


def test_made_once_until_a_source_is_replaced():
    calls: list = []
    model = Doubler().fit([1, 2])
    first = model.doubled(calls)
    assert model.doubled(calls) is first and len(calls) == 1
    model.fit([3])  # a refit replaces the source
    np.testing.assert_array_equal(model.doubled(calls), [6.0])
    assert len(calls) == 2


def test_left_out_of_the_saved_state():
    model = Doubler().fit([1, 2])
    before = pickle.dumps(model)
    model.doubled([])
    assert KEY in vars(model)
    assert pickle.dumps(model) == before
    assert KEY not in vars(pickle.loads(pickle.dumps(model)))
