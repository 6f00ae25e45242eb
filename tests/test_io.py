import numpy as np

from digitrec import io


def test_arrays_round_trip_and_can_be_memory_mapped(tmp_path):
    images = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    labels = np.array([3, 7])
    io.write_arrays(tmp_path, images=images, labels=labels)
    loaded, loaded_labels = io.load_arrays(tmp_path, "images", "labels")
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(loaded_labels, labels)
    (mapped,) = io.load_arrays(tmp_path, "images", mmap=True)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped[[1]], images[[1]])
