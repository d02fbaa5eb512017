"""Pin the sealed form's files: SRI hashes in index.html, the vendored libsodium's manifest, the bundle hash.

    python -m scripts.webform_sri          rewrite index.html's integrity attributes and vendor/MANIFEST.json
    python -m scripts.webform_sri --check  exit 1 if either is out of date (tests/bot/test_webform_page.py)
    python -m scripts.webform_sri --bundle print the bundle hash (docs/threat-model.md: compare it with the
                                           published one and with what a server serves)
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "bot" / "webform" / "static"
VENDOR = {
    "vendor/libsodium-sumo.js": ("libsodium-sumo", "0.8.4", "dist/modules-sumo/libsodium-sumo.js",
                                 "sha512-TMtHShQfVVsaxDygyapvUC3o7YsPgXa/hRWeIgzyFz6w5k/1hirGptCxp1U7XwW3rCskaTTYKgV10v86UiGgNw=="),
    "vendor/libsodium-wrappers-sumo.js": ("libsodium-wrappers-sumo", "0.8.4",
                                          "dist/modules-sumo/libsodium-wrappers.js",
                                          "sha512-ql7hcgulKZ3ekfa2DGAogcCKsWU0diA/0nArz1CFzh93WQdb46/Kj18ka/Hifq6uA3Ush34Pc6vU/6HXeRwUkg=="),
}
_ATTR = re.compile(r'(?P<attr>(?:src|href)="static/(?P<name>[^"]+)" integrity=")sha384-[^"]*(?P<end>")')


def sri(name: str) -> str:
    """The Subresource Integrity value of one file under static/."""
    return "sha384-" + base64.b64encode(hashlib.sha384((STATIC / name).read_bytes()).digest()).decode("ascii")


def pinned_index() -> str:
    """index.html with every integrity attribute set to its file's current hash."""
    text = (STATIC / "index.html").read_text(encoding="utf-8")
    return _ATTR.sub(lambda m: f"{m['attr']}{sri(m['name'])}{m['end']}", text)


def manifest() -> str:
    """vendor/MANIFEST.json: each vendored file's package, version, path in the npm tarball and hashes."""
    entries = [{"file": name, "package": package, "version": version, "tarball_path": path, "npm_integrity": npm,
                "sha384": sri(name)} for name, (package, version, path, npm) in VENDOR.items()]
    note = ("Unmodified files from the npm packages named (npm pack NAME@VERSION); index.html loads them with "
            "these sha384 values as Subresource Integrity. Rebuild with: python -m scripts.webform_sri")
    return json.dumps({"note": note, "files": entries}, indent=1) + "\n"


def bundle_hash() -> str:
    """SHA-256 over every served file, in a fixed order, each as name, NUL, length, NUL, bytes."""
    from bot.webform.page import SERVED  # the list of what the server serves

    digest = hashlib.sha256()
    for name in SERVED:
        data = (STATIC / name).read_bytes()
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    if "--bundle" in argv:
        print(f"waystation sealed form bundle sha256: {bundle_hash()}")
        return 0
    index, vendor = pinned_index(), manifest()
    index_path, vendor_path = STATIC / "index.html", STATIC / "vendor" / "MANIFEST.json"
    if "--check" in argv:
        stale = [str(p) for p, text in ((index_path, index), (vendor_path, vendor))
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print("out of date (run python -m scripts.webform_sri): " + ", ".join(stale))
            return 1
        return 0
    index_path.write_text(index, encoding="utf-8")
    vendor_path.write_text(vendor, encoding="utf-8")
    print(f"pinned {index_path} and {vendor_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
