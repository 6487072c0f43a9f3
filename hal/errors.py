"""The one error tree every layer raises from.

Callers catch :class:`PenError` to handle anything the pen stack can raise, or a
subclass to handle one kind. Like python-can's ``CanError`` tree, timeouts are
also ``TimeoutError`` so generic code that only knows the standard library still
recognises them.
"""

from __future__ import annotations


class PenError(Exception):
    """Root of every error raised by hal/, sim/ and controller/."""


class BackendError(PenError):
    """A backend could not be found, imported or opened."""


class BackendNotFoundError(BackendError):
    """No backend is registered under the requested name."""


class PenOperationError(PenError):
    """The pen refused or failed an operation it was asked to do."""


class PenRefusedError(PenOperationError):
    """The pen refused a request and said why (a NAK on the wire, or the same check in process).

    ``code`` is a :class:`hal.protocol.ErrorCode` value; ``key`` names the setting
    concerned, when there is one.
    """

    def __init__(self, code: int, key: str, message: str) -> None:
        self.code = code
        self.key = key
        self.reason = message
        super().__init__(f"{key}: {message}" if key else message)


class PenTimeoutError(PenError, TimeoutError):
    """The pen did not answer within the allowed time."""


class CommandRefusedError(PenOperationError):
    """A state-machine trigger was invalid in the current state or a guard said no.

    The message names the trigger, the state and every reason, so an operator can
    act on it without reading code.
    """

    def __init__(self, trigger: str, state: str, reasons: list[str]) -> None:
        self.trigger = trigger
        self.state = state
        self.reasons = list(reasons)
        joined = "; ".join(self.reasons)
        super().__init__(f"'{trigger}' refused in state '{state}': {joined}")


class InputError(PenError):
    """Bad user input (plan file, settings file, argument): nothing was changed.

    ``source`` names the file or argument and ``key`` the dotted path inside it,
    so the message says where and what was expected.
    """

    def __init__(self, source: str, key: str, expected: str, got: object = None) -> None:
        self.source = source
        self.key = key
        self.expected = expected
        self.got = got
        where = f"{source}: {key}" if key else source
        detail = f"expected {expected}"
        if got is not None:
            detail += f", got {got!r}"
        super().__init__(f"{where}: {detail}")
