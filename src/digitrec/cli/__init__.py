"""The ``digitrec`` command line: ``predict``, ``serve`` and ``check``."""
