"""The runbook's patch status codes and the integral status (the smallest code wins).

>>> integral_status([Status.OK, Status.NOT_LOADED, Status.NOT_CHANGED])
<Status.NOT_CHANGED: 5>
>>> integral_status([6, 4, 7])
<Status.NOT_UPDATED: 4>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from harness.errors import ExitCode

__all__ = ["EXIT_REFUSED", "EXIT_UNREACHABLE", "SUCCESS_THRESHOLD", "Status", "exit_code", "integral_status"]


class Status(enum.IntEnum):
    ERROR = 1        # an error occurred while hot-loading the module
    NOT_BEAM = 2     # the file is not an Erlang module
    WRONG_PATH = 3   # the path in the archive is not the expected layout
    NOT_UPDATED = 4  # the node could not switch to the new code: manual reboot
    NOT_CHANGED = 5  # same md5 as the loaded module
    OK = 6           # loaded
    NOT_LOADED = 7   # the node does not run that module (normal)

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: int | str | Status) -> Status:
        if isinstance(value, str) and not value.isdigit():
            return cls[value.upper()]
        return cls(int(value))


SUCCESS_THRESHOLD = Status.NOT_CHANGED
EXIT_REFUSED = int(ExitCode.REFUSED)  # bad archive, wrong version, not admin, too large: nothing changed
#: the master domain or an agent could not be reached (7; it was 3, the code of rolled_back, before issue 14)
EXIT_UNREACHABLE = int(ExitCode.UNREACHABLE)


def integral_status(codes: Iterable[int | str | Status]) -> Status:
    """Combine per-module or per-node statuses: the smallest code becomes the final status.

    Raises ``ValueError`` for an empty input: a patch with no module has no status.
    """
    parsed = [Status.parse(c) for c in codes]
    if not parsed:
        raise ValueError("integral status of nothing: a patch result needs at least one module")
    return min(parsed)


def exit_code(integral: Status) -> int:
    """0 when every node ended in not_changed/ok/not_loaded, else ``10 + code`` (11..14)."""
    return 0 if integral >= SUCCESS_THRESHOLD else int(ExitCode.PRODUCT_RESULT) + int(integral)
