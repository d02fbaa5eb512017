"""Encrypted storage for Waystation: the server home, the SQLCipher database, the case queue.

Imports only `crypto` from this project. Every write is one transaction.
"""
