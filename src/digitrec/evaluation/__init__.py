"""Measuring a fitted model: test metrics, robustness to corruptions, and plots."""
