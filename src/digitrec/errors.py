"""The base class of every error a user can fix by changing an input."""


class UserError(Exception):
    """A wrong param, a bad download or data file, a refused model file, an unreachable
    compute backend: the message says what was wrong and what would fit. The stages print
    it as one paragraph and exit with status 2, leaving previous outputs untouched."""
