"""Zato product knowledge: log-line parsing (:mod:`harness.products.zato.logs`)."""

from harness.products.zato.logs import KINDS, UPLOADED_PACKAGE_RE, LogEvent, parse_line, parse_log

__all__ = ["KINDS", "UPLOADED_PACKAGE_RE", "LogEvent", "parse_line", "parse_log"]
