# Shared settings for the build and test scripts. Sourced, not executed.
# Everything expensive lives in $VGPU_CACHE (outside the repo), keyed by
# source version and config hash, so a warm machine never rebuilds it.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VGPU_CACHE=${VGPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vgpu}
mkdir -p "$VGPU_CACHE"

# Minimum versions; the newest that downloads is used (pool files come and go).
KERNEL_SERIES=7.2
QEMU_MIN_VERSION=10.1
LLVM_SUFFIX=-19

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A private apt configuration that can see Debian sid and trixie-backports
# without touching the system's own package state (never used to install).
NEWER_APT_DIR="$VGPU_CACHE/apt-newer"
newer_apt() {
    mkdir -p "$NEWER_APT_DIR/lists/partial" "$NEWER_APT_DIR/cache/archives/partial"
    if [ ! -f "$NEWER_APT_DIR/sources.list" ]; then
        cat >"$NEWER_APT_DIR/sources.list" <<'SRC'
deb http://deb.debian.org/debian sid main
deb-src http://deb.debian.org/debian sid main
deb http://deb.debian.org/debian trixie-backports main
deb-src http://deb.debian.org/debian trixie-backports main
SRC
    fi
    apt-get "${NEWER_APT_OPTS[@]}" "$@"
}
newer_apt_cache() { apt-cache "${NEWER_APT_OPTS[@]}" "$@"; }
NEWER_APT_OPTS=(-o Dir::Etc::sourcelist="$NEWER_APT_DIR/sources.list"
    -o Dir::Etc::sourceparts=/nonexistent -o Dir::State::Lists="$NEWER_APT_DIR/lists"
    -o Dir::Cache="$NEWER_APT_DIR/cache" -o APT::Get::List-Cleanup=0
    -o APT::Sandbox::User=root)

config_hash() { cat "$@" | sha256sum | cut -c1-12; }
