"""What a component's boot and serving code share with the process that runs it (:mod:`zato_standin.runner`):
its component, its logger, its start options, the stop request and the hooks run at the stop."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from zato_standin import component


@dataclass
class Runtime:
    comp: component.Component
    log: logging.Logger
    sync_internal: bool = False
    #: ``zato start --deploy X.zip``: where the archive was extracted (its ``code`` and ``enmasse``)
    deploy_auto_from: str = ""
    stop_requested: threading.Event = field(default_factory=threading.Event)
    pid: int = field(default_factory=os.getpid)
    #: run after the HTTP servers stopped (e.g. the server's ODB up-status becomes clean-down)
    on_stop: list[Callable[[], None]] = field(default_factory=list)

    def sleep(self, seconds: float) -> bool:
        """Sleep, but wake up early on SIGTERM; True when a stop was requested."""
        return self.stop_requested.wait(max(seconds, 0.0))
