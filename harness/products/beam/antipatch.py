"""Anti-patch: the object code a patch is about to replace, captured on every node, and its restore.

Erlang cannot read loaded code back out of memory, so a capture reads the file each module was
loaded from and checks that its md5 is the loaded md5; if a node runs code that is not on its disk
(e.g. an earlier not_updated), the capture is refused rather than recording something it could
not restore. ``restore()`` writes the files back (or removes files the patch added), reloads what
was loaded (soft purge first: no process is killed) and verifies every md5 afterwards.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from harness.errors import RefusedError
from harness.products.beam.agent import AgentClient
from harness.products.beam.result import ModuleResult, NodeResult, PatchResult

__all__ = ["AntiPatch", "ModuleImage"]


@dataclass(frozen=True)
class ModuleImage:
    path: str
    module: str
    loaded: bool
    md5: str | None                      # loaded md5 (None when not loaded)
    disk: bytes | None = field(repr=False)  # the file at the patch's path (None: there was none)

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "module": self.module, "loaded": self.loaded, "md5": self.md5,
                "disk": base64.b64encode(self.disk).decode() if self.disk is not None else None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModuleImage:
        disk = base64.b64decode(d["disk"]) if d.get("disk") is not None else None
        return cls(d["path"], d["module"], bool(d["loaded"]), d.get("md5"), disk)


@dataclass
class AntiPatch:
    images: dict[str, list[ModuleImage]]   # node name -> images
    agents: dict[str, str]                 # node name -> agent address

    @classmethod
    def capture(cls, agents: Sequence[AgentClient], paths: Sequence[str]) -> AntiPatch:
        """Capture the current code at ``paths`` (``App/ebin/Mod.beam``) on every node."""
        images: dict[str, list[ModuleImage]] = {}
        addresses: dict[str, str] = {}
        for agent in agents:
            node = str(agent.info()["node"])
            captured = []
            for c in agent.capture(list(paths)):
                if "error" in c:   # not a patchable layout: the patch will not touch it either
                    continue
                if not c["consistent"]:
                    raise RefusedError(f"{node}: {c['module']} runs code that is not the file on disk "
                                       f"(loaded {c['md5']}, disk {c['disk_md5']}); reboot the node first")
                disk = c["disk"] if isinstance(c["disk"], bytes) else None
                captured.append(ModuleImage(c["path"], c["module"], bool(c["loaded"]), c["md5"], disk))
            images[node], addresses[node] = captured, agent.address
        return cls(images, addresses)

    @property
    def paths(self) -> list[str]:
        return sorted({i.path for imgs in self.images.values() for i in imgs})

    def expected_md5s(self) -> dict[str, dict[str, str]]:
        """node -> module -> md5 or "not_loaded", as captured."""
        return {n: {i.module: i.md5 or "not_loaded" for i in imgs} for n, imgs in self.images.items()}

    def restore(self, agents: Mapping[str, AgentClient] | Sequence[AgentClient] | None = None) -> PatchResult:
        """Put every captured image back on its node; the result carries a per-module status."""
        by_node = self._agents(agents)
        nodes = []
        for node, imgs in self.images.items():
            agent = by_node[node]
            reply = agent.restore([(i.path, i.loaded, i.md5, i.disk) for i in imgs])
            nodes.append(NodeResult(node, tuple(ModuleResult.from_json(m) for m in reply["modules"])))
        return PatchResult("restore", tuple(nodes))

    def verify(self, agents: Mapping[str, AgentClient] | Sequence[AgentClient] | None = None
               ) -> dict[str, dict[str, tuple[str, str]]]:
        """Differences between the captured and the current md5s: node -> module -> (want, have)."""
        by_node = self._agents(agents)
        diff: dict[str, dict[str, tuple[str, str]]] = {}
        for node, want in self.expected_md5s().items():
            have = by_node[node].md5s(list(want))
            bad = {m: (w, str(have.get(m))) for m, w in want.items() if have.get(m) != w}
            if bad:
                diff[node] = bad
        return diff

    def _agents(self, agents: Mapping[str, AgentClient] | Sequence[AgentClient] | None) -> dict[str, AgentClient]:
        if agents is None:
            return {n: AgentClient.parse(a, name=n) for n, a in self.agents.items()}
        if isinstance(agents, Mapping):
            return dict(agents)
        return {str(a.info()["node"]): a for a in agents}

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        doc = {"format": 1, "agents": self.agents,
               "images": {n: [i.as_json() for i in imgs] for n, imgs in self.images.items()}}
        path.write_text(json.dumps(doc, indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> AntiPatch:
        """Read what :meth:`save` wrote; anything else is refused (RefusedError: nothing is contacted)."""
        def refuse(why: str) -> RefusedError:
            return RefusedError(f"{path}: {why}; nothing was changed on any node.\nHint: pass the anti-patch "
                                "JSON that `harness patch apply` saved (antipatch-<sha>.json), unedited")

        try:
            doc = json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError) as exc:
            raise refuse(f"cannot read the anti-patch ({exc}); not JSON") from None
        except json.JSONDecodeError as exc:
            raise refuse(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        if not isinstance(doc, dict):
            raise refuse(f"not an anti-patch: an object with format, agents and images was expected, "
                         f"not {type(doc).__name__}")
        try:
            parsed = _AntiPatchDoc.model_validate(doc)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
            raise refuse(f"not an anti-patch: {problems}") from None
        missing = sorted(set(parsed.images) - set(parsed.agents))
        if missing:
            raise refuse(f"not an anti-patch: no agent address for node {', '.join(missing)} (agents)")
        return cls({n: [ModuleImage(i.path, i.module, i.loaded, i.md5, i.disk) for i in imgs]
                    for n, imgs in parsed.images.items()}, dict(parsed.agents))


class _ImageDoc(BaseModel):
    model_config = ConfigDict(strict=True)
    path: str
    module: str
    loaded: bool
    md5: str | None = None
    disk: bytes | None = None

    @field_validator("disk", mode="before")
    @classmethod
    def _b64(cls, value: Any) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("base64 text or null expected")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("not base64") from None


class _AntiPatchDoc(BaseModel):
    """The shape :meth:`AntiPatch.save` writes (format 1)."""

    model_config = ConfigDict(strict=True)
    format: int = 1
    agents: dict[str, str]
    images: dict[str, list[_ImageDoc]]

    @field_validator("format")
    @classmethod
    def _known(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"format {value} is not one this harness reads (format 1)")
        return value
