#!/usr/bin/env bash
# Build the base image of every stand-in without a registry:
#   debootstrap --variant=minbase bookworm -> tarball (cached) -> docker import.
#
# The mirror is read from this machine's apt sources (never written into the repo); override it
# with HARNESS_DEBIAN_MIRROR. The rootfs tarball is cached under /var/cache/upgrade-harness/ so a
# rerun (or a fresh clone on the same machine) only re-imports it.
#
# Usage: build-base.sh [IMAGE]      (default upgrade-harness/debian:bookworm)
# Env:   HARNESS_FORCE_BASE=1 rebuilds the tarball and the image.
set -euo pipefail

IMAGE="${1:-upgrade-harness/debian:bookworm}"
SUITE="${HARNESS_DEBIAN_SUITE:-bookworm}"
CACHE_DIR="${HARNESS_CACHE_DIR:-/var/cache/upgrade-harness}"
TARBALL="$CACHE_DIR/debian-$SUITE-minbase.tar"

log() { echo "build-base: $*"; }

# The first URI of an apt source that serves "$SUITE" itself (not -security/-updates).
apt_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        awk -v suite="$SUITE" '
            function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uri != "") { print uri; found = 1; exit } }
            /^[[:space:]]*$/ { flush(); types = ""; suites = ""; uri = ""; next }
            tolower($1) == "types:"  { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:"   { uri = $2 }
            END { if (!found) flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        # deb [opts] URI SUITE COMPONENTS...
        sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
    done
}

if [[ "${HARNESS_FORCE_BASE:-0}" != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already present"
    exit 0
fi

mkdir -p "$CACHE_DIR"
if [[ "${HARNESS_FORCE_BASE:-0}" == 1 || ! -s "$TARBALL" ]]; then
    command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
    mirror="${HARNESS_DEBIAN_MIRROR:-$(apt_mirror | head -n1)}"
    [[ -n "$mirror" ]] || { log "no apt mirror for $SUITE found in /etc/apt; set HARNESS_DEBIAN_MIRROR"; exit 1; }
    rootfs="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
    trap 'rm -rf "$rootfs" "$TARBALL.tmp"' EXIT
    log "debootstrap --variant=minbase $SUITE (mirror from the apt sources)"
    start=$SECONDS
    if ! debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1; then
        log "debootstrap failed; last lines of $CACHE_DIR/debootstrap.log:"
        tail -n 15 "$CACHE_DIR/debootstrap.log" >&2
        exit 1
    fi
    log "debootstrap done in $((SECONDS - start))s"
    # Smaller image: drop downloaded .debs and apt lists (containers run apt-get update first).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/debootstrap
    tar --numeric-owner -C "$rootfs" -cf "$TARBALL.tmp" .
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$rootfs"
    trap - EXIT
fi

log "docker import $TARBALL -> $IMAGE"
start=$SECONDS
docker import \
    --change 'CMD ["/bin/bash"]' \
    --change 'ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive' \
    --change 'LABEL upgrade-harness=base' \
    "$TARBALL" "$IMAGE" >/dev/null
log "imported in $((SECONDS - start))s"
