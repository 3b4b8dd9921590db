"""The one exception type the command line turns into a one-line message."""


class IsogenError(Exception):
    """A problem the user can fix: the message names it and says how."""
