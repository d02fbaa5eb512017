"""Fixtures: the real sandbox app under real uvicorn on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from sandbox import SandboxSettings
from sandbox.testing import (
    Runner,
    RunningSandbox,
    StartSandbox,
    run_bounded,
    running_sandbox,
)

TOKEN = "123456789:" + "AAF1sandboxTOKENforTESTSonly-0123_x"  # built here, never a real token
OTHER_TOKEN = "987654321:" + "BBF1sandboxTOKENforTESTSonly-0123_y"


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A sandbox with flood limits off, so only the flood tests meet a 429."""
    with running_sandbox(SandboxSettings.unlimited()) as running:
        yield running


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """A factory for sandboxes with chosen settings, all stopped after the test."""
    with ExitStack() as stack:
        yield lambda settings: stack.enter_context(running_sandbox(settings))


@pytest.fixture
def run() -> Runner:
    """Run an async scenario (a no-argument coroutine function) within a time bound."""
    return run_bounded


@pytest.fixture
def token() -> str:
    """A well-formed bot token."""
    return TOKEN


@pytest.fixture
def other_token() -> str:
    """A second well-formed bot token (another bot)."""
    return OTHER_TOKEN
