from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from digitrec.data import DataFormatError, read_idx, read_idx_gz


def idx_bytes(shape: tuple[int, ...], data: bytes, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def test_round_trip_3d() -> None:
    expected = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    array = read_idx(idx_bytes((2, 3, 4), expected.tobytes()))
    assert array.dtype == np.uint8
    assert array.shape == (2, 3, 4)
    np.testing.assert_array_equal(array, expected)


def test_round_trip_1d_with_large_dimension_values() -> None:
    data = bytes([255, 0, 7]) * 100
    array = read_idx(idx_bytes((300,), data))
    assert array.shape == (300,)
    assert array[:3].tolist() == [255, 0, 7]


def test_bad_magic() -> None:
    data = b"\x01\x00" + idx_bytes((2,), b"\x00\x01")[2:]
    with pytest.raises(DataFormatError, match=r"Bad IDX magic number 0x01000801"):
        read_idx(data)


def test_gzip_data_gets_a_hint() -> None:
    with pytest.raises(DataFormatError, match="looks gzip-compressed; use read_idx_gz"):
        read_idx(gzip.compress(idx_bytes((2,), b"\x00\x01")))


@pytest.mark.parametrize(("code", "name"), [(0x0D, "float"), (0x09, "signed byte"), (0x42, "?")])
def test_unsupported_type_code(code: int, name: str) -> None:
    data = idx_bytes((2,), b"\x00" * 8, type_code=code)
    with pytest.raises(DataFormatError) as info:
        read_idx(data)
    message = str(info.value)
    assert f"Unsupported IDX type code 0x{code:02x}" in message
    assert "only 0x08 (unsigned byte) is supported" in message
    if name != "?":
        assert f"({name})" in message


@pytest.mark.parametrize("actual", [5, 7, 0])
def test_data_length_not_product_of_dimensions(actual: int) -> None:
    with pytest.raises(DataFormatError) as info:
        read_idx(idx_bytes((2, 3), b"\x01" * actual))
    assert str(info.value) == (
        f"IDX data length mismatch: dimensions (2, 3) require 6 bytes of data, got {actual}."
    )


def test_huge_declared_dimensions_fail_fast() -> None:
    with pytest.raises(DataFormatError, match=r"\(60000, 28, 28\) require 47040000 bytes"):
        read_idx(idx_bytes((60000, 28, 28), b"\x00" * 10))


def test_truncated_header() -> None:
    with pytest.raises(DataFormatError, match=r"declares 3 dimensions \(16 header bytes\)"):
        read_idx(idx_bytes((2, 3, 4), b"")[:10])


def test_too_short_for_magic() -> None:
    with pytest.raises(DataFormatError, match="2 bytes long, too short"):
        read_idx(b"\x00\x00")


def test_zero_dimensions() -> None:
    with pytest.raises(DataFormatError, match="0 dimensions; expected at least 1"):
        read_idx(b"\x00\x00\x08\x00")


def test_read_idx_gz(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes((2, 2), bytes([1, 2, 3, 4]))))
    np.testing.assert_array_equal(read_idx_gz(path), [[1, 2], [3, 4]])


def test_read_idx_gz_names_the_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.gz"
    plain.write_bytes(idx_bytes((2,), b"\x00\x01"))
    with pytest.raises(DataFormatError, match=r"plain\.gz is not a valid gzip file"):
        read_idx_gz(plain)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(idx_bytes((4,), b"\x00\x01")))
    with pytest.raises(DataFormatError, match=r"short\.gz: IDX data length mismatch"):
        read_idx_gz(short)


def test_real_mnist_labels(dataset_files: Path) -> None:
    train = read_idx_gz(dataset_files / "mnist" / "train-labels-idx1-ubyte.gz")
    test = read_idx_gz(dataset_files / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert train.shape == (60000,)
    assert test.shape == (10000,)
    assert train[:5].tolist() == [5, 0, 4, 1, 9]
    assert test[:5].tolist() == [7, 2, 1, 0, 4]
    assert set(np.unique(train).tolist()) == set(range(10))
