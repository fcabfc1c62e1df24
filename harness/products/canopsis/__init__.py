"""Canopsis (Go engines + RabbitMQ): the regular update through every release note, the stand-ins.

Version rules (:mod:`.versions`), release notes (:mod:`.notes`), the API client (:mod:`.api`), AMQP helpers
(:mod:`.amqp`), the runbook's actions (:mod:`.actions`) and the ``canopsis-update`` procedure (:mod:`.procedure`).
"""

from __future__ import annotations

from harness.registry import Product

PRODUCT = Product(
    name="canopsis",
    summary="Canopsis: regular update within a major, every release note in order, events kept in RabbitMQ",
    roles=("node", "broker", "api"),
    procedures={"canopsis-update": "harness.products.canopsis.procedure:PROCEDURE"},
    actions={name: f"harness.products.canopsis.actions:{cls}" for name, cls in (
        ("canopsis.broadcast", "Broadcast"), ("canopsis.release_note", "ReleaseNote"), ("canopsis.stop", "Stop"),
        ("canopsis.packages", "Packages"), ("canopsis.downgrade", "Downgrade"), ("canopsis.canopsinit", "Canopsinit"),
        ("canopsis.reconfigure", "Reconfigure"), ("canopsis.config_restore", "ConfigRestore"),
        ("canopsis.daemon_reload", "DaemonReload"), ("canopsis.restart", "Restart"), ("canopsis.verify", "Verify"),
        ("canopsis.compose_files", "ComposeFiles"), ("canopsis.compose_restore", "ComposeRestore"),
        ("canopsis.compose_up", "ComposeUp"))},
    gates={"canopsis.ready": "harness.products.canopsis.actions:ready"},
    standin="harness.products.canopsis.standin:STANDIN",
    fixtures="harness.products.canopsis.fixtures",
    timeline="harness.products.canopsis.timeline:TIMELINE",
)
