"""Fixtures: one sandbox per module; per test a staffed home, a fake clock and the bot in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.alerts.harness import FakeClock, RunningBot, World, make_home
from tests.bot.harness import Sandbox, start_sandbox

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox messenger as a subprocess, flood limits off (the sending tests start their own)."""
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0", "--global-rate", "0")
    yield box
    box.process.stop()


WorldFactory = Callable[..., World]


@pytest.fixture
def world(tmp_path: Path, sandbox: Sandbox) -> Iterator[WorldFactory]:
    """make(**config sections) -> a World with the bot running; stopped after the test."""
    bots: list[RunningBot] = []

    def make(box: Sandbox | None = None, **sections: Mapping[str, object]) -> World:
        used = box or sandbox
        staffed = make_home(tmp_path / f"home{len(bots)}", used, **sections)
        clock = FakeClock()
        bot = RunningBot(staffed.root, clock).start()
        bots.append(bot)
        return World(staffed, used, clock, bot, bots)

    yield make
    for bot in bots:
        bot.stop()
