"""``canopsis.toml`` edits of release notes, with tomlkit so the operator's comments and layout survive."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import tomlkit
from tomlkit.items import Table


def check(text: str, file: str) -> str | None:
    """None if ``text`` is valid TOML, else an error naming file and line, with the fix."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{file}:{m.group(1)}" if m else file
        return f"{where}: not valid TOML: {exc}\nHint: fix this line (canopsis-reconfigure would exit 1 " \
               f"with `failed to parse config`)"
    return None


def has_key(text: str, table: str, key: str, value: Any) -> bool:
    node: Any = tomllib.loads(text)
    for part in table.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return isinstance(node, dict) and key in node and node[key] == value


def add_key(text: str, table: str, key: str, value: Any) -> str:
    """``text`` with ``key = value`` in ``[table]`` (created if missing); other content unchanged."""
    doc = tomlkit.parse(text)
    node: Any = doc
    for part in table.split("."):
        if part not in node:
            node[part] = tomlkit.table(is_super_table=part != table.split(".")[-1])
        node = node[part]
    if not isinstance(node, (Table, dict)):
        raise TypeError(f"{table} is not a table in canopsis.toml")
    node[key] = value
    return tomlkit.dumps(doc)
