# Typed stub of sqlcipher3 (https://github.com/coleifer/sqlcipher3), which ships no type hints.
# Its package re-exports everything from dbapi2, as the stdlib sqlite3 does.
from sqlcipher3.dbapi2 import *  # noqa: F403
