"""Waystation bot package."""
