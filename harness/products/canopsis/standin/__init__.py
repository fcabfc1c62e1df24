"""A single-node Canopsis stand-in with its own real RabbitMQ, installed onto any backend's hosts.

Two installations (option ``install``), each one installer for every backend:

* ``packages`` (:mod:`.packages`): host ``rabbitmq`` runs a RabbitMQ node of its own (:mod:`.broker`),
  host ``node`` the node programs, installed and started with the runbook's own commands (``yum
  install``, ``canopsinit``, ``canopsis-reconfigure``, ``systemctl daemon-reload``, ``canoctl start``);
* ``compose`` (:mod:`.compose`): host ``node`` runs the Docker CLI and holds a Compose project of
  engines, API and RabbitMQ as services (Community edition only; a host with a Docker CLI reaching the
  engine that sees its files: ``backend: process``).

Under the environment's state dir, on the controller (:meth:`CanopsisStandin.prepare`)::

    repo/          a copy of containers/canopsis/repo: the package repository and release notes, mounted
                   read-only on the node at /srv/canopsis-repo (a test adds a release to it)
    compose/       Compose only: a copy of the reference compose files, one per version
    inventory.yaml

The harness publishes events and counts queues at ``facts.amqp_url`` (127.0.0.1); the node reaches the
broker at ``facts.node_amqp_url``.
"""

from __future__ import annotations

import shutil
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from harness.backends import HostSpec
from harness.errors import ConfigError
from harness.plan.models import Inventory
from harness.products.canopsis.standin import compose, packages
from harness.products.canopsis.standin.common import BASE_VERSION, SOURCE
from harness.standins import InstallContext, Standin


class CanopsisOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    install: Literal["packages", "compose"] = Field("packages", description="packages (yum, canoctl) or a "
                                                   "Docker Compose project (with `backend: process`)")
    edition: Literal["core", "cat"] = Field("core", description="core (Community) or cat (Pro: + engine-correlation)")

    @field_validator("edition")
    @classmethod
    def _compose_is_community(cls, edition: str, info: ValidationInfo) -> str:
        if edition != "core" and info.data.get("install") == "compose":
            raise ValueError("the Compose stand-in has the Community edition only (core): use `edition: core`, "
                             "or `install: packages`")
        return edition


class CanopsisStandin(Standin):
    Options = CanopsisOptions
    base_version = BASE_VERSION

    def summary(self, options: CanopsisOptions) -> str:
        return f"single-node Canopsis ({options.edition}, {options.install})"

    def hosts(self, ctx: InstallContext) -> list[HostSpec]:
        return compose.hosts(ctx) if ctx.options.install == "compose" else packages.hosts(ctx)

    def prepare(self, ctx: InstallContext) -> None:
        shutil.copytree(SOURCE / "repo", ctx.state_dir / "repo", dirs_exist_ok=True)
        if ctx.options.install == "compose":  # the releases' reference files (a test adds one)
            shutil.copytree(SOURCE / "compose", ctx.state_dir / "compose", dirs_exist_ok=True)

    def install(self, ctx: InstallContext) -> Inventory:
        return compose.install(ctx) if ctx.options.install == "compose" else packages.install(ctx)

    def inventory(self, ctx: InstallContext) -> Inventory:
        return compose.planned(ctx) if ctx.options.install == "compose" else packages.planned(ctx)

    def stop(self, inventory: Inventory) -> None:
        (compose.stop if inventory.facts.get("install") == "compose" else packages.stop)(inventory)


    # -- one component, for faults (harness.faults); the packages installation only ---------------------
    def pidfiles(self, inventory: Inventory, component: str) -> list[str]:
        pidfiles: list[str] = _packages_only(inventory, component).component_pidfiles(inventory, component)
        return pidfiles

    def stop_component(self, inventory: Inventory, component: str) -> None:
        _packages_only(inventory, component).stop_component(inventory, component)

    def start_component(self, inventory: Inventory, component: str) -> None:
        _packages_only(inventory, component).start_component(inventory, component)

    def digest(self, inventory: Inventory) -> dict[str, Any]:
        """Installed and running versions, the configuration and package state files."""
        return dict(_packages_only(inventory, "canopsis").digest(inventory))

    def applied(self, inventory: Inventory) -> dict[str, int]:
        """Package transactions, migrations, engine and API starts and stops, as the node recorded them."""
        return dict(_packages_only(inventory, "canopsis").applied(inventory))


def _packages_only(inventory: Inventory, component: str) -> Any:
    if inventory.facts.get("install") == "compose" or "broker_listen" not in inventory.facts:
        raise ConfigError(f"faults on {component!r} of a compose installation are not supported yet",
                          hint="use the packages installation (`install: packages`)")
    return packages


STANDIN = CanopsisStandin()

__all__ = ["BASE_VERSION", "SOURCE", "STANDIN", "CanopsisOptions", "CanopsisStandin"]
