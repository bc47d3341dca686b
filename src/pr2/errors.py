"""The one exception type for errors a user can cause (bad file, unknown model, unreachable server).

The CLI prints its message on one line and exits non-zero without a traceback, so the message must say
what was wrong and where: the file, the record and the field.
"""


class PR2Error(Exception):
    """An error the user can fix: the message names the file, record and field (or the model, or the server)."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (or its type name): what a one-line error can quote."""
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
