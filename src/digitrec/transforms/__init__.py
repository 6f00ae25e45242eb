"""Transformers from raw image to feature rows, and any picture to a raw image."""
