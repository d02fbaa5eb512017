"""Tests of the sandbox messenger (sandbox)."""
