"""Fixtures for end-to-end bot tests: a sandbox, a staffed home pointed at it, the bot running."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.bot.harness import Bot, Sandbox, configure_home, start_bot, start_sandbox
from tests.conftest import StaffedHome, build_staffed_home


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox per test module, without rate limits (the flood tests start their own)."""
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0", "--global-rate", "0")
    yield box
    box.process.stop()


BotFactory = Callable[..., tuple[StaffedHome, Bot]]


@pytest.fixture
def run_bot(tmp_path: Path, sandbox: Sandbox) -> Iterator[BotFactory]:
    """Start a bot on a fresh staffed home: run_bot(delete_after=.., after_submit=.., flood=..)."""
    bots: list[Bot] = []

    def factory(**settings: int | str) -> tuple[StaffedHome, Bot]:
        staffed = build_staffed_home(tmp_path / f"home{len(bots)}")
        port = configure_home(staffed.root, sandbox, **settings)  # type: ignore[arg-type]
        bot = start_bot(staffed.root, port, tmp_path / f"bot{len(bots)}.log")
        bots.append(bot)
        return staffed, bot

    yield factory
    for bot in bots:
        bot.stop()
