"""The classifiers: the registry that builds them from params, and digitrec's own
estimators (batched SVM, cascade, virtual support vectors, calibration)."""
