"""What both installations of the Canopsis stand-in share: ports, paths, the node's files, the inventory."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import resources
from harness.errors import HarnessError, SetupFailed
from harness.plan.models import Component, Host, Inventory
from harness.products.canopsis.actions import engines_for, wait_started
from harness.products.canopsis.api import CanopsisApi
from harness.products.canopsis.node import CanopsisNode
from harness.standins import InstallContext
from harness.transports.base import Transport

SOURCE = resources.containers("canopsis")
BASE_VERSION = "4.4.0"
API_PORT, AMQP_PORT = 8082, 5672
#: where the package repository (the state dir's copy, so a test can add a release) is mounted
REPO_MOUNT = "/srv/canopsis-repo"
READY_TIMEOUT = 60.0


#: upstream's broker account and vhost (compose.env: CPS_AMQP_URL=amqp://cpsrabbit:canopsis@rabbitmq/canopsis)
AMQP_USER, AMQP_PASS, AMQP_VHOST = "cpsrabbit", "canopsis", "canopsis"


def amqp_url(address: str) -> str:
    """The broker's URL for ``address`` (``host:port``), with upstream's credentials and vhost ``canopsis``."""
    return f"amqp://{AMQP_USER}:{AMQP_PASS}@{address}/{AMQP_VHOST}"


def harness_amqp_url(url: str) -> str:
    """:func:`amqp_url` of a ``Host.url(5672, "amqp")``: where the harness publishes and counts queues."""
    return amqp_url(urlsplit(url).netloc)


def put_tree(transport: Transport, source: Path, dest: str, *, python: str | None = None) -> None:
    """Put every file of ``source`` under ``dest`` on a host (``bin/`` executable, ``*.in`` templates and
    caches left out); with ``python``, the launchers' ``#!`` lines name that interpreter."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        if "__pycache__" in rel.parts or path.suffix == ".in":
            continue
        data, executable = path.read_bytes(), rel.parts[0] == "bin"
        if python and executable:
            data = re.sub(rb"^#![^\n]*", f"#!{python}".encode(), data, count=1)
        transport.put(f"{dest}/{rel.as_posix()}", data, mode=0o755 if executable else 0o644)


def shipped_or_copied(ctx: InstallContext, name: str) -> str:
    """The state dir's copy of ``containers/canopsis/NAME`` once :meth:`prepare` made it; before that
    (planning) the one shipped with the stand-in."""
    copy = ctx.state_dir / name
    return str(copy if copy.is_dir() else SOURCE / name)


def facts(ctx: InstallContext, **more: Any) -> dict[str, Any]:
    return {"version": ctx.version, "edition": ctx.options.edition, "install": ctx.options.install,
            "repository": shipped_or_copied(ctx, "repo"), **more}


#: facts that carry the broker's credentials: the inventory names a file (mode 0600) in the state dir
SECRET_FACTS = ("amqp_url", "node_amqp_url")


def _secret_file(ctx: InstallContext, name: str, value: str) -> dict[str, str]:
    """``value`` kept in ``STATE/secrets/NAME`` (0600); the inventory holds ``{file: PATH}`` (harness.secrets)."""
    d = ctx.state_dir / "secrets"
    path = d / name
    if ctx.planned:  # a planned inventory only names the file: nothing is written before the stand-ins start
        return {"file": str(path)}
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return {"file": str(path)}


def inventory(ctx: InstallContext, *, hosts: list[Host], root: str, api: str, broker: Component,
              facts: dict[str, Any]) -> Inventory:
    """The inventory's shape, the same for every installation: host ``node``, components ``canopsis``
    (the node), ``rabbitmq`` (the broker) and ``api``."""
    comps = [Component(name="canopsis", role="node", host="node", path=root, url=api), broker,
             Component(name="api", role="api", host="node", path=root, url=api)]
    facts = {k: _secret_file(ctx, k, v) if k in SECRET_FACTS and isinstance(v, str) else v for k, v in facts.items()}
    return Inventory.model_validate({"environment": ctx.environment, "product": "canopsis", "front_door": api,
                                     "hosts": [h.model_dump() for h in hosts],
                                     "components": [c.model_dump() for c in comps], "facts": facts})


def wait_up(node: CanopsisNode, inv: Inventory, offsets: dict[str, int] | None = None) -> None:
    """Every engine of the edition started and the API answers (the ``canopsis.ready`` gate's check)."""
    assert inv.front_door
    try:
        wait_started(node, CanopsisApi(inv.front_door, max_wait=READY_TIMEOUT), engines_for(inv.facts["edition"]),
                     offsets or {}, READY_TIMEOUT)
    except HarnessError as exc:
        raise SetupFailed(f"Canopsis stand-in did not come up: {exc}") from exc
