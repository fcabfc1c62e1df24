"""Release notes of a Canopsis package repository: human text plus machine-readable steps.

A repository is a directory with one folder per version::

    4.5.0/release-note.md      what a human reads
    4.5.0/release-note.toml    what the executor applies, in order:
        [[steps]] kind = "config"            table = "Canopsis.api"  key = "BulkMaxSize"  value = 1000
        [[steps]] kind = "migration"         script = "001_idle_rules.json"   (in 4.5.0/migrations/)
        [[steps]] kind = "reconfigure-flag"  flag = "-migrate-postgres=true"
        [migration_guide] id = "migration-4.5.0"  title = "..."  doc = "notes-de-version/migration/..."
                          mongodb_fcv = "4.2"   (optional: what MongoDB must report before the update)
    4.5.0/migrations/*.json

Reading is pure file I/O on the harness side (``facts.repository``), so planning touches no node.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from harness.errors import PlanError

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ConfigStep(BaseModel):
    model_config = _STRICT
    kind: Literal["config"]
    table: str = Field(pattern=r"^[A-Za-z][\w.]*$", description="dotted table of canopsis.toml, e.g. Canopsis.api")
    key: str = Field(pattern=r"^[A-Za-z]\w*$")
    value: Any


class MigrationStep(BaseModel):
    model_config = _STRICT
    kind: Literal["migration"]
    script: str = Field(pattern=r"^[\w.-]+\.json$")


class FlagStep(BaseModel):
    model_config = _STRICT
    kind: Literal["reconfigure-flag"]
    flag: str = Field(pattern=r"^-[a-z][\w-]*(=[\w./-]+)?$")


NoteStep = Annotated[ConfigStep | MigrationStep | FlagStep, Field(discriminator="kind")]


class MigrationGuide(BaseModel):
    """A release note that mandates a migration guide (upstream: 4.4.0, 4.5.0, 4.6.0, 22.10.0, 23.04.0,
    23.10.0, 24.04.0): MongoDB/TimescaleDB upgrades, InfluxDB → TimescaleDB, nginx ports… work no machine
    step of this procedure does. The regular update refuses to cross it unless the plan says it was followed."""

    model_config = _STRICT
    id: str = Field(pattern=r"^[\w.-]+$", description="what params.guides_followed names, e.g. migration-4.5.0")
    title: str = Field(min_length=1)
    doc: str = Field(description="the guide in Canopsis's docs, e.g. notes-de-version/migration/migration-4.5.0.md")
    mongodb_fcv: str | None = Field(None, pattern=r"^\d+\.\d+$", description=(
        "the featureCompatibilityVersion MongoDB must report before the update (the guide's 'Vérification "
        "MongoDB'); checked at precheck where a mongo shell runs on the node"))


class ReleaseNote(BaseModel):
    model_config = _STRICT
    version: str
    migration_guide: MigrationGuide | None = None
    steps: list[NoteStep] = Field(default_factory=list)


def guide_line(repo: Path, version: str) -> int | None:
    """Line of ``[migration_guide]`` in the release note, for located errors (tomllib keeps no lines)."""
    path = repo / version / "release-note.toml"
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip().startswith("[migration_guide]"):
            return n
    return None


def versions(repo: Path) -> list[str]:
    if not repo.is_dir():
        raise PlanError("package repository not found", file=str(repo), field="facts.repository",
                        hint="point facts.repository of the inventory at the Canopsis repository mirror")
    return [d.name for d in repo.iterdir() if d.is_dir() and re.fullmatch(r"\d+\.\d+\.\d+", d.name)]


def load(repo: Path, version: str) -> ReleaseNote:
    """The release note of ``version``; a missing or malformed note is a :class:`PlanError` naming the file."""
    path = repo / version / "release-note.toml"
    if not path.exists():
        raise PlanError(f"no release note for {version}: it must be read and applied before updating past it",
                        file=str(path), field="params.to",
                        hint=f"add {version}/release-note.toml (and .md) to the repository, or choose a target "
                             f"before {version}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise PlanError(f"release note is not valid TOML: {exc}", file=str(path),
                        line=int(line.group(1)) if line else None, hint="fix the TOML syntax") from None
    try:
        note = TypeAdapter(ReleaseNote).validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PlanError(f"release note: {err['msg']}", file=str(path),
                        field=".".join(str(p) for p in err["loc"]),
                        hint="steps are [[steps]] with kind = config|migration|reconfigure-flag; "
                             "[migration_guide] has id, title, doc (and mongodb_fcv)") from None
    if note.version != version:
        raise PlanError(f"release note says version {note.version!r}", file=str(path), line=1, field="version",
                        hint=f"it lives in folder {version}/: make them agree")
    for s in note.steps:
        if isinstance(s, MigrationStep) and not (repo / version / "migrations" / s.script).exists():
            raise PlanError(f"migration {s.script} is missing", file=str(repo / version / "migrations"),
                            field="steps.script", hint="ship the script beside the release note")
    return note
