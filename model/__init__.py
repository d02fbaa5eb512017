"""What the server and the caseworker's client share and both may import: plain records and rules.

Case records (`cases.py`), a case as a caseworker reads it (`views.py`), the grant rules both
sides check (`grants.py`), text cleaning (`text.py`) and private files written atomically
(`files.py`). Imports nothing of ours but `crypto`; never sqlcipher3 or a server module, so
that the staff client stays free of the server's code (tests/test_crypto_policy.py and
tests/staff/test_client_imports.py hold it to that).
"""
