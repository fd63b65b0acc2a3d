from __future__ import annotations


class InvalidParameterError(ValueError):
    """A configuration names an unknown parameter or a value outside the search space.

    The message names the parameter and lists what is allowed, so that a typo in a
    hand-written configuration is fixed from the error alone.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.parameter = name
