"""The one exception type the project raises for problems a user can fix.

The CLI turns a ``DigitsError`` into a single line on stderr and a non-zero exit; anything
else is a bug and is allowed to show its traceback.
"""


class DigitsError(Exception):
    """A problem with the user's input, files or environment, explained in one line."""
