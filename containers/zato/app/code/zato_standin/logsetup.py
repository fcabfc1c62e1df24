"""Zato's log format, in UTC with milliseconds, one flushed line per record.

``2024-05-01 10:00:00,123 - INFO - 4242:MainThread - zato.server.base.parallel:0 - Started `server1@dev` (pid: 4242)``

Real Zato is built with Cython, so the line number in its logs is always 0; the stand-in writes 0 too.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

FORMAT = "%(asctime)s - %(levelname)s - %(process)d:%(threadName)s - %(name)s:0 - %(message)s"

LOGGER_NAMES = {
    "server": "zato.server.base.parallel",
    "web-admin": "zato.admin.main",
    "scheduler": "zato.scheduler.main",
    "load-balancer": "zato.agent.load_balancer.main",
}


class UTCFormatter(logging.Formatter):
    converter = time.gmtime


def setup(kind: str, log_file: Path) -> logging.Logger:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")  # flushes after every record
    handler.setFormatter(UTCFormatter(FORMAT))
    logger = logging.getLogger(LOGGER_NAMES[kind])
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger
