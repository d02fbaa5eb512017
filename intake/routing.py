"""Routing: which queue a request goes to, from the rules in config.toml."""

from __future__ import annotations

from collections.abc import Sequence

from storage.config import RoutingRule


def route(rules: Sequence[RoutingRule], default: str, *, language: str, country: str = "",
          help_option: str = "") -> str:
    """The queue of the first rule whose every given condition matches; else `default`.

    `country` is the person's answer (compared case-insensitively); `help_option`
    is the option id they chose for the kind of help.
    """
    for rule in rules:
        if rule.languages and language.casefold() not in rule.languages:
            continue
        if rule.countries and country.strip().casefold() not in rule.countries:
            continue
        if rule.help and help_option.casefold() not in rule.help:
            continue
        return rule.queue
    return default
