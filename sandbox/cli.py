"""The `waystation sandbox` command."""

from __future__ import annotations

import click

from sandbox.errors import BindFailed, SettingsRejected
from sandbox.server import bind_socket, page_url, serve_socket
from sandbox.settings import SandboxSettings

_DEFAULTS = SandboxSettings()
_RATE = click.FloatRange(min=0, max=1_000_000)


@click.command(name="sandbox")
@click.option(
    "--port",
    required=True,
    type=click.IntRange(1, 65535),
    help="TCP port to listen on.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--per-chat-rate",
    type=_RATE,
    default=_DEFAULTS.per_chat_per_second,
    show_default=True,
    help="Messages per second the bot may send to one chat after its burst (0 disables).",
)
@click.option(
    "--per-chat-burst",
    type=click.IntRange(min=1, max=1_000_000),
    default=_DEFAULTS.per_chat_burst,
    show_default=True,
    help="Messages the bot may send to one chat at once before the rate applies.",
)
@click.option(
    "--global-rate",
    type=_RATE,
    default=_DEFAULTS.global_per_second,
    show_default=True,
    help="Messages per second the bot may send in total (0 disables).",
)
def sandbox_command(
    port: int, host: str, per_chat_rate: float, per_chat_burst: int, global_rate: float
) -> None:
    """Run a local sandbox messenger: a fake Telegram Bot API and a web chat page."""
    try:
        settings = SandboxSettings(
            per_chat_per_second=per_chat_rate,
            per_chat_burst=per_chat_burst,
            global_per_second=global_rate,
        )
    except SettingsRejected as err:
        raise click.UsageError(
            "--per-chat-rate and --global-rate must be finite numbers >= 0"
        ) from err
    try:
        sock = bind_socket(host, port)
    except BindFailed as err:
        raise click.ClickException(str(err)) from err
    url = page_url(host, port)
    click.echo(f"Sandbox messenger at {url} (bots use base_url {url}bot); press Ctrl+C to stop.")
    serve_socket(sock, settings)
