#!/bin/sh
# Builds the release binary and prints its path. On Linux with glibc it is
# a static executable (static-pie): `-C target-feature=+crt-static` with the
# host target named explicitly, so that it applies to telemetron and not to
# the proc-macros and build scripts cargo builds for the host (with no
# `--target`, cargo would give them the flag too, and proc-macros cannot be
# static). Elsewhere (macOS) the usual `cargo build --release`.
#
# Usage: scripts/build-release.sh [extra cargo flags, e.g. --locked]
set -eu
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
    *-linux-gnu)
        RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
            cargo build --release --target "$host" "$@" >&2
        echo "${CARGO_TARGET_DIR:-target}/$host/release/telemetron"
        ;;
    *)
        cargo build --release "$@" >&2
        echo "${CARGO_TARGET_DIR:-target}/release/telemetron"
        ;;
esac
