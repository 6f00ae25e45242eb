"""What a dataset's raw images look like, so any picture can be brought to that form."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageSpec:
    """The raw image format a model is trained on.

    Attributes:
        shape: (height, width) of one raw image.
        max_value: intensity of full ink; background is 0 (ink is bright).
        canvas: side of the square bitmap the digit is drawn on before being reduced to
            ``shape`` by summing blocks (32 for optdigits' 32x32 bitmaps -> 8x8 counts).
            Equal to ``shape[0]`` when there is no block reduction (MNIST).
        box: side of the square the digit's bounding box is scaled to fit in, on the canvas
            (aspect ratio kept): 32 for optdigits, 20 for MNIST.
        binary: whether the canvas bitmap is black/white (optdigits) or grey (MNIST).
        center: how the digit is placed: "box" centres its bounding box,
            "mass" centres its centre of mass (MNIST).
    """

    shape: tuple[int, int]
    max_value: int
    canvas: int
    box: int
    binary: bool
    center: str

    def __post_init__(self) -> None:
        if any(side < 1 or self.canvas % side for side in self.shape):
            raise ValueError(
                f"ImageSpec.canvas ({self.canvas}) must be a multiple of each side of "
                f"shape {self.shape}: the canvas is reduced to shape by whole blocks"
            )


DIGITS = ImageSpec(shape=(8, 8), max_value=16, canvas=32, box=32, binary=True, center="box")
MNIST = ImageSpec(shape=(28, 28), max_value=255, canvas=28, box=20, binary=False, center="mass")
