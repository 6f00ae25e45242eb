"""The CI gate: metric rules against a baseline, and the reproducibility contract."""
