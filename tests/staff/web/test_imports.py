"""The web desk is client code: it loads neither sqlcipher3 nor a server module, nor the bot."""

from __future__ import annotations

from tests.staff.test_client_imports import loaded_after_importing, server_modules

WEB_MODULES = ["staff.web", "staff.web.app", "staff.web.gate", "staff.web.life", "staff.web.i18n", "staff.web.inbox",
               "staff.web.preview", "staff.web.state", "staff.web.team", "staff.web.serve"]


def test_the_web_desk_loads_no_server_code() -> None:
    loaded = loaded_after_importing(WEB_MODULES)
    assert set(WEB_MODULES) <= set(loaded)
    assert server_modules(loaded) == []
