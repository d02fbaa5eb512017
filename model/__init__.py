"""What the server and the caseworker's client share and both may import: plain records and text rules.

Imports nothing of ours but `crypto`; never sqlcipher3 or a server module, so that the staff
client stays free of the server's code (tests/test_crypto_policy.py holds it to that).
"""
