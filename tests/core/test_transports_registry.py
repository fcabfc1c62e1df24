"""Every registered transport imports, names itself after its key, and loads lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import ConfigError
from harness.transports import TRANSPORTS, Transport, make_transport, transport_class


@pytest.mark.parametrize("name", sorted(TRANSPORTS))
def test_registry_entry_imports_and_name_matches_key(name: str) -> None:
    cls = transport_class(name)
    assert issubclass(cls, Transport)
    assert name == cls.NAME


def test_unknown_transport_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown transport 'telnet'") as excinfo:
        make_transport("telnet")
    assert "local" in str(excinfo.value) and "docker" in str(excinfo.value)


def test_importing_transports_does_not_import_the_docker_sdk() -> None:
    code = "import sys, harness.transports; sys.exit('docker' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_make_transport_builds_a_local_transport() -> None:
    transport = make_transport("local")
    assert transport.NAME == "local" and transport.target == "local://"
