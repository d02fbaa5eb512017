"""Tests of the sandbox messenger (bot/sandbox)."""
