from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitrec.data import DataFormatError, read_optdigits


def line(pixels: list[int], label: int) -> str:
    return ",".join(str(v) for v in [*pixels, label])


GOOD = [line(list(range(16)) * 4, 3), line([16] * 64, 0), line([0] * 64, 9)]


def test_good_text() -> None:
    images, labels = read_optdigits("\n".join(GOOD) + "\n")
    assert images.shape == (3, 8, 8)
    assert images.dtype == np.uint8
    assert labels.dtype == np.uint8
    assert labels.tolist() == [3, 0, 9]
    assert images[0, 0].tolist() == list(range(8))
    assert images[0, 1].tolist() == list(range(8, 16))
    assert (images[1] == 16).all()


def test_crlf_and_blank_lines() -> None:
    images, labels = read_optdigits("\r\n".join([GOOD[0], "", GOOD[1]]) + "\r\n\r\n")
    assert images.shape == (2, 8, 8)
    assert labels.tolist() == [3, 0]


def test_wrong_field_count() -> None:
    text = "\n".join([GOOD[0], GOOD[1], ",".join(["1"] * 64)])
    with pytest.raises(DataFormatError) as info:
        read_optdigits(text)
    assert str(info.value) == (
        "optdigits line 3: expected 65 comma-separated fields "
        "(64 pixel counts and a label), got 64."
    )


def test_wrong_field_count_counts_blank_lines() -> None:
    with pytest.raises(DataFormatError, match=r"line 3: .* got 66"):
        read_optdigits("\n".join([GOOD[0], "", GOOD[1] + ",1"]))


def test_pixel_out_of_range() -> None:
    pixels = [0] * 64
    pixels[9] = 17
    with pytest.raises(DataFormatError) as info:
        read_optdigits("\n".join([GOOD[0], line(pixels, 1)]))
    assert str(info.value) == (
        "optdigits line 2, field 10: pixel count 17 is out of range; expected 0..16."
    )


def test_negative_pixel() -> None:
    with pytest.raises(DataFormatError, match="line 1, field 1: pixel count -1 is out of range"):
        read_optdigits(line([-1] + [0] * 63, 1))


def test_label_out_of_range() -> None:
    with pytest.raises(DataFormatError) as info:
        read_optdigits("\n".join([GOOD[0], GOOD[1], line([0] * 64, 10)]))
    assert str(info.value) == (
        "optdigits line 3, field 65: label 10 is out of range; expected 0..9."
    )


def test_first_bad_field_in_reading_order() -> None:
    bad_label = line([0] * 64, 12)
    bad_pixel = line([0] * 63 + [99], 1)
    with pytest.raises(DataFormatError, match="line 1, field 65: label 12"):
        read_optdigits("\n".join([bad_label, bad_pixel]))


@pytest.mark.parametrize("value", ["x", "1.5", "", "0x3"])
def test_non_integer(value: str) -> None:
    fields = [str(v) for v in range(16)] * 4 + ["3"]
    fields[4] = value
    with pytest.raises(DataFormatError) as info:
        read_optdigits("\n".join([GOOD[1], ",".join(fields)]))
    assert str(info.value) == f"optdigits line 2, field 5: {value!r} is not an integer."


def test_huge_integer_is_out_of_range_not_a_crash() -> None:
    with pytest.raises(DataFormatError, match="field 2: pixel count 99999999999999999999999"):
        read_optdigits(line([0, 99999999999999999999999] + [0] * 62, 1))


def test_empty_text() -> None:
    with pytest.raises(DataFormatError, match="no data lines; expected lines of 65"):
        read_optdigits("\n \n")


def test_real_test_set_is_sklearn_digits(dataset_files: Path) -> None:
    from sklearn.datasets import load_digits

    text = (dataset_files / "optdigits" / "optdigits.tes").read_text(encoding="ascii")
    images, labels = read_optdigits(text)
    digits = load_digits()
    assert images.shape == (1797, 8, 8)
    np.testing.assert_array_equal(images, digits.images)
    np.testing.assert_array_equal(labels, digits.target)
