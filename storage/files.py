"""Private files: the server's names for model.files (the caseworker's client writes its pins the same way)."""

from __future__ import annotations

from model.files import fsync_dir as fsync_dir
from model.files import make_private_dir as make_private_dir
from model.files import replace as replace
from model.files import write_new as write_new
