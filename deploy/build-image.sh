#!/bin/sh
# Build the Waystation image without reaching any image registry: both bases are made here from
# Debian packages with mmdebstrap, imported into podman, and passed to deploy/Containerfile as its
# BUILD_BASE and RUNTIME_BASE build arguments. Usage (as root, from anywhere):
#   deploy/build-image.sh [TAG]                     (TAG: default waystation:local)
# Environment: WAYSTATION_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# WAYSTATION_PODMAN (default "podman --runtime runc": the runtime that works on our CI machines).
# Needs: podman, mmdebstrap, the Debian mirror and PyPI (the build stage installs the hash-pinned
# wheels of deploy/requirements.txt). Nothing is cached between runs: the bases are made anew.
#
#   build base    Debian 12 (minbase) with python3.11 and python3.11-venv, as debian:12-slim
#                 plus what the build stage installs. It carries this host's CA bundle, so that
#                 pip inside the build trusts what this host trusts (a TLS-inspecting proxy, say);
#                 nothing of the build stage reaches the runtime image but /opt/venv and /data.
#   runtime base  like gcr.io/distroless/python3-debian12:nonroot: the files of python3.11, tzdata and
#                 ca-certificates (with their libraries) extracted, no maintainer script run
#                 (the variant "extract" runs extract hooks only),
#                 the package tools deleted, so no shell and no package manager; /etc/passwd
#                 with nonroot = 65532, the systemd unit's uid.
set -eu
tag=${1:-waystation:local}
mirror=${WAYSTATION_DEBIAN_MIRROR:-http://deb.debian.org/debian}
podman=${WAYSTATION_PODMAN:-podman --runtime runc}
suite=bookworm
repo=$(cd "$(dirname "$0")/.." && pwd)
build_base=localhost/waystation-base-build:$suite
runtime_base=localhost/waystation-base-runtime:$suite
host_ca=/etc/ssl/certs/ca-certificates.crt
# Marks the bases and what inherits from them, so that the untagged leftovers of earlier builds
# (replaced bases, build stages) can be pruned without touching anyone else's images.
label=org.waystation.base

say() { printf 'build-image.sh: %s\n' "$*" >&2; }
for tool in mmdebstrap podman; do
    command -v "$tool" >/dev/null || { say "$tool is missing: apt-get install $tool"; exit 1; }
done
[ -r "$host_ca" ] || { say "$host_ca is missing: apt-get install ca-certificates"; exit 1; }

start=$(date +%s)
say "build base $build_base from $mirror"
# shellcheck disable=SC2016  # $1 is the hook's argument (the new root), expanded by mmdebstrap's shell
mmdebstrap --quiet --variant=minbase --include=python3.11,python3.11-venv \
    --customize-hook="install -m 0644 '$host_ca' \"\$1/etc/ssl/certs/ca-certificates.crt\"" \
    "$suite" - "$mirror" \
    | $podman import --quiet --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' --change "LABEL $label=build" \
        --change 'CMD ["/bin/bash"]' - "$build_base" >/dev/null

say "runtime base $runtime_base"
# shellcheck disable=SC2016  # as above
mmdebstrap --quiet --variant=extract --skip=chroot/start-stop-daemon --include=python3.11,ca-certificates,tzdata \
    --extract-hook='install -d "$1/etc/ssl/certs" && cat "$1"/usr/share/ca-certificates/mozilla/*.crt > "$1/etc/ssl/certs/ca-certificates.crt"' \
    --extract-hook='printf "%s\n" "root:x:0:0:root:/root:/sbin/nologin" "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin" "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" > "$1/etc/passwd"' \
    --extract-hook='printf "%s\n" "root:x:0:" "nogroup:x:65534:" "nonroot:x:65532:" > "$1/etc/group"' \
    --extract-hook='install -d -m 0700 -o 65532 -g 65532 "$1/home/nonroot" && install -d -m 1777 "$1/tmp"' \
    --extract-hook='cd "$1" && rm -f bin/sh bin/bash bin/dash bin/tar sbin/start-stop-daemon usr/bin/dpkg* usr/sbin/dpkg* usr/bin/debconf* usr/bin/update-alternatives usr/sbin/update-ca-certificates usr/sbin/rmt-tar usr/sbin/tarcat usr/bin/c_rehash usr/bin/openssl' \
    "$suite" - "$mirror" \
    | $podman import --quiet --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' --change "LABEL $label=runtime" \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' --change 'ENTRYPOINT ["/usr/bin/python3.11"]' \
        - "$runtime_base" >/dev/null
bases=$(date +%s)

say "image $tag"
# The build stage fetches from the Debian mirror and PyPI: host networking, as the bases did.
$podman build --pull=never --network host \
    --build-arg "BUILD_BASE=$build_base" --build-arg "RUNTIME_BASE=$runtime_base" \
    --ignorefile "$repo/deploy/Containerfile.dockerignore" \
    -f "$repo/deploy/Containerfile" -t "$tag" "$repo" >&2
done_at=$(date +%s)
$podman image prune --force --filter "label=$label" >/dev/null || say "could not prune earlier bases (harmless)"
say "bases in $((bases - start)) s, image in $((done_at - bases)) s: $tag"
