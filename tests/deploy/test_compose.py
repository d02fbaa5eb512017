"""deploy/compose.yaml: valid against the compose-spec schema, and hardened the way the docs say."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.deploy.conftest import DEPLOY, tool


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    checker = tool("check-jsonschema", "pip install check-jsonschema, part of the test extras")
    return subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def _compose() -> dict[str, Any]:
    return YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_file_matches_the_compose_spec() -> None:
    done = _check(DEPLOY / "compose.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text((DEPLOY / "compose.yaml").read_text().replace("read_only: true", "read_onyl: true", 1))
    assert _check(broken).returncode != 0


def test_every_service_is_locked_down() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("restart") == "unless-stopped", name


def test_the_bot_runs_unprivileged_with_mounted_secrets_and_no_published_port() -> None:
    compose = _compose()
    bot = compose["services"]["bot"]
    assert bot["user"].split(":")[0] not in ("0", "root")
    assert "ports" not in bot
    assert set(bot["secrets"]) == {"waystation-bot-token", "waystation-db-key"}
    assert bot["environment"]["CREDENTIALS_DIRECTORY"] == "/run/secrets"
    for secret in compose["secrets"].values():
        assert not secret["file"].startswith("./data"), "keys must not live in the data directory"
    assert bot["build"]["dockerfile"] == "deploy/Containerfile"


def test_caddy_fronts_the_staff_api_and_tor_is_an_optional_profile() -> None:
    services = _compose()["services"]
    assert "443:443" in services["caddy"]["ports"]
    assert services["caddy"]["cap_add"] == ["NET_BIND_SERVICE"]
    assert "profiles" not in services["bot"] and "profiles" not in services["caddy"]
    assert services["tor"]["profiles"] == ["onion"]
    assert services["tor"]["network_mode"] == "service:bot"
    assert "bot:8765" in (DEPLOY / "Caddyfile").read_text()
    assert "127.0.0.1:8765" in (DEPLOY / "torrc").read_text()
