#!/bin/sh
# install.sh: install telemetron, set it up and schedule it.
#
# POSIX sh; safe under `set -u` and with HOME unset. Run it as root (or
# with sudo) for a system-wide install under /usr/local, or as a user for
# ~/.local. See --help.
set -eu

usage() {
    cat <<'EOF'
Usage: install.sh [SOURCE] [--no-setup] [--uninstall] [--help]

Installs the telemetron binary, then, when TELEMETRON_ENDPOINT is set, runs
`telemetron setup` (detect the agents, write the config, enroll when no
token is given, schedule `telemetron scan`, verify with a first scan).
Running it again changes nothing that is already in place.

SOURCE (one of; default: --from-build):
  --from-build          the binary of a local build (scripts/build-release.sh:
                        static on Linux; cargo makes it or finds it up to date)
  --binary FILE         a binary you already have
  --url URL             download a release binary (curl or wget) and verify
                        it against --checksums before installing anything
  --checksums URL       a checksums file: lines of "<sha256>  <file name>"

Options:
  --no-setup            install the binary only
  --uninstall           remove the schedule and the binary (config and state
                        are kept; the paths to delete are printed)
  --help                this text

Where: PREFIX/bin/telemetron, PREFIX = $TELEMETRON_PREFIX, else /usr/local as
root, else ~/.local.

Environment passed on to `telemetron setup` (see the README):
  TELEMETRON_ENDPOINT  TELEMETRON_ENROLL_ENDPOINT  TELEMETRON_TOKEN_FILE
  TELEMETRON_CONFIG  TELEMETRON_STATE_DIR  TELEMETRON_INSECURE_ENDPOINT
  TELEMETRON_DEPLOYMENT_ID  TELEMETRON_TIER  TELEMETRON_ENVIRONMENT
  TELEMETRON_NO_AUTO_ENROLL=1 (do not enroll)
  TELEMETRON_SETUP_ARGS  extra flags for setup, e.g. "--cron --user"

EOF
}

say() { printf 'install.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

source_kind=build
source_arg=
checksums=
setup=yes
uninstall=no
while [ $# -gt 0 ]; do
    case "$1" in
        --from-build) source_kind=build ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a file"; source_kind=file; source_arg=$2; shift ;;
        --url) [ $# -ge 2 ] || die "--url needs a URL"; source_kind=url; source_arg=$2; shift ;;
        --checksums) [ $# -ge 2 ] || die "--checksums needs a URL"; checksums=$2; shift ;;
        --no-setup) setup=no ;;
        --uninstall) uninstall=yes ;;
        --help|-h) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

# Who and where, without trusting HOME to be set.
uid=$(id -u)
home=${HOME:-}
if [ -z "$home" ]; then
    home=$(getent passwd "$uid" 2>/dev/null | cut -d: -f6 || true)
fi
if [ -n "${TELEMETRON_PREFIX:-}" ]; then
    prefix=$TELEMETRON_PREFIX
elif [ "$uid" -eq 0 ]; then
    prefix=/usr/local
else
    [ -n "$home" ] || die "HOME is unset and unknown; set TELEMETRON_PREFIX"
    prefix=$home/.local
fi
bin=$prefix/bin/telemetron

if [ "$uninstall" = yes ]; then
    if [ -x "$bin" ]; then
        "$bin" schedule remove || say "could not remove the schedule; see \`$bin schedule print\`"
        rm -f "$bin"
        say "removed $bin"
    else
        say "nothing installed at $bin"
    fi
    say "config and state are kept; delete them yourself if you want (as root: /etc/telemetron /var/lib/telemetron; else ~/.config/telemetron ~/.local/state/telemetron)"
    exit 0
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t telemetron)
trap 'rm -rf "$tmp"' EXIT INT TERM

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is installed; cannot verify the download"
    fi
}

fetch() { # URL FILE
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL -o "$2" "$1" || die "cannot download $1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1" || die "cannot download $1"
    else
        die "neither curl nor wget is installed"
    fi
}

case "$source_kind" in
    build)
        here=$(cd "$(dirname "$0")" && pwd)
        command -v cargo >/dev/null 2>&1 || die "no cargo to build telemetron with"
        # Static on Linux (see scripts/build-release.sh).
        say "building telemetron (scripts/build-release.sh --locked)"
        new=$("$here/scripts/build-release.sh" --locked) || die "the build failed"
        case "$new" in /*) ;; *) new=$here/$new ;; esac
        ;;
    file)
        new=$source_arg
        [ -f "$new" ] || die "no such file: $new"
        ;;
    url)
        [ -n "$checksums" ] || die "--url needs --checksums: a download is never installed unverified"
        name=$(basename "$source_arg")
        fetch "$source_arg" "$tmp/$name"
        fetch "$checksums" "$tmp/checksums.txt"
        want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1; exit }' "$tmp/checksums.txt")
        [ -n "$want" ] || die "$checksums lists no checksum for $name"
        got=$(sha256 "$tmp/$name")
        [ "$got" = "$want" ] || die "checksum mismatch for $name (expected $want, got $got): refusing to install it"
        say "verified $name (sha256 $got)"
        new=$tmp/$name
        ;;
esac

# Install (atomically, and only if different: running twice changes nothing).
mkdir -p "$prefix/bin"
if [ -f "$bin" ] && cmp -s "$new" "$bin"; then
    say "$bin is already this version"
else
    cp "$new" "$bin.new.$$"
    chmod 0755 "$bin.new.$$"
    mv -f "$bin.new.$$" "$bin"
    say "installed $bin"
fi
"$bin" --version >/dev/null || die "$bin does not run on this machine"

if [ "$setup" = yes ] && [ -n "${TELEMETRON_ENDPOINT:-}" ]; then
    say "running telemetron setup"
    # TELEMETRON_SETUP_ARGS: extra flags for setup, split on spaces.
    # shellcheck disable=SC2086
    "$bin" setup --binary "$bin" ${TELEMETRON_SETUP_ARGS:-}
elif [ "$setup" = yes ]; then
    say "TELEMETRON_ENDPOINT is not set: run \`$bin setup --endpoint URL\` when you have one"
fi
