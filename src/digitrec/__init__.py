"""Handwritten digit recognition as a reproducible scikit-learn + DVC pipeline."""

__version__ = "0.1.0"
