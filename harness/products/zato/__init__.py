"""Zato (Python ESB): the environment update and restart, service installation, the stand-ins.

Procedures: ``zato-update``, ``zato-restart`` (:mod:`.procedures.update`); ``zato-hot-deploy``,
``zato-service-sources``, ``zato-extra-paths`` (:mod:`.procedures.install`). Log-line parsing is
:mod:`.logs` (re-exported here).
"""

from __future__ import annotations

from harness.products.zato.logs import KINDS, UPLOADED_PACKAGE_RE, LogEvent, parse_line, parse_log
from harness.registry import Product

PRODUCT = Product(
    name="zato",
    summary="Zato ESB: environment update (git pull + update.sh, rolling restart), service installation",
    roles=("web-admin", "server", "load-balancer", "scheduler"),
    procedures={
        "zato-update": "harness.products.zato.procedures.update:UPDATE",
        "zato-restart": "harness.products.zato.procedures.update:RESTART",
        "zato-hot-deploy": "harness.products.zato.procedures.install:HOT_DEPLOY",
        "zato-service-sources": "harness.products.zato.procedures.install:SERVICE_SOURCES",
        "zato-extra-paths": "harness.products.zato.procedures.install:EXTRA_PATHS",
    },
    actions={
        "zato.git_pull": "harness.products.zato.actions:GitPull",
        "zato.git_reset": "harness.products.zato.actions:GitReset",
        "zato.install": "harness.products.zato.actions:UpdateSh",
        "zato.stop": "harness.products.zato.actions:ZatoStop",
        "zato.start": "harness.products.zato.actions:ZatoStart",
        "zato.hot_deploy": "harness.products.zato.deploy:HotDeploy",
        "zato.invoke": "harness.products.zato.deploy:Invoke",
        "zato.cannot_undo": "harness.products.zato.deploy:NotUndone",
        "zato.put_files": "harness.products.zato.deploy:PutFiles",
        "zato.restore_files": "harness.products.zato.deploy:RestoreFiles",
        "zato.verify": "harness.products.zato.serving:Verify",
    },
    gates={
        "zato.ready": "harness.products.zato.actions:component_ready",
        "zato.deployed": "harness.products.zato.deploy:deployed",
    },
    standin="harness.products.zato.standin:STANDIN",
    fixtures="harness.products.zato.fixtures",
    timeline="harness.products.zato.timeline:TIMELINE",
)

__all__ = ["KINDS", "PRODUCT", "UPLOADED_PACKAGE_RE", "LogEvent", "parse_line", "parse_log"]
