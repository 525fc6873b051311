"""The one exception type a user can cause.

Everything a user can get wrong (a missing model folder, a bad parameter, an unknown
record id, a broken database) is raised as ``UserError`` carrying a message that names
the problem and the fix. The CLI turns it into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole message shown to them."""

    exit_code = 2
