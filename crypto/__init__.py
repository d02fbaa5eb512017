"""Pure cryptography for Waystation: identities, envelopes, rosters, case references.

Nothing here does I/O, reads a clock or keeps global state: callers pass bytes,
keys and the current time in, and get bytes or typed errors out. Every
primitive comes from PyNaCl (libsodium).
"""
