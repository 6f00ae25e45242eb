"""Exceptions raised by :mod:`digitrec.data`."""

from __future__ import annotations

from collections.abc import Sequence

from digitrec.data.sources import RemoteFile
from digitrec.errors import UserError


class DataFormatError(UserError, ValueError):
    """A data file's content does not match its documented format."""


class FetchError(UserError, RuntimeError):
    """A file could not be obtained, with a verified size and sha256, from any mirror.

    Attributes:
        remote: the file that was requested.
        failures: ``(location, reason)`` for each mirror tried, in order.
    """

    def __init__(
        self, message: str, remote: RemoteFile, failures: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.remote = remote
        self.failures = tuple(failures)
