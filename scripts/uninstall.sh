#!/usr/bin/env bash
# Removes everything install.sh put in place, as recorded in its manifest,
# unloads vgpu.ko and refreshes the module and library caches.
set -euo pipefail
# --upgrade (install.sh, before a reinstall): keep a loaded vgpu.ko and the
# vgpu group with its members.
quiet=""
upgrade=""
for arg in "$@"; do
    case "$arg" in
        --quiet) quiet=--quiet ;;
        --upgrade) upgrade=yes ;;
        *) echo "usage: uninstall.sh [--quiet] [--upgrade]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "uninstall.sh: run as root" >&2; exit 1; }
state=/var/lib/vgpu
manifest=$state/manifest
[ -f "$manifest" ] || { [ "$quiet" = --quiet ] || echo "vgpu is not installed"; exit 0; }
if [ -z "$upgrade" ] && grep -q '^vgpu ' /proc/modules 2>/dev/null; then
    { modprobe -r vgpu 2>/dev/null || rmmod vgpu; } \
        || { echo "uninstall.sh: vgpu.ko is in use (close /dev/vgpu*)" >&2; exit 1; }
fi
while read -r entry; do
    case "$entry" in
        group:*) [ -n "$upgrade" ] || groupdel "${entry#group:}" 2>/dev/null || true ;;
        tree:/lib/modules/*) rm -rf "${entry#tree:}" ;;
        dir:*) rmdir "${entry#dir:}" 2>/dev/null || true ;;
        /*) rm -f "$entry" ;;
    esac
done <"$manifest"
rm -rf "$state"
# The module directory we may have created, if now empty.
if [ -d "/lib/modules/$(uname -r)" ]; then
    rmdir "/lib/modules/$(uname -r)/extra" 2>/dev/null || true
    ! command -v depmod >/dev/null || depmod -a "$(uname -r)" 2>/dev/null || true
fi
ldconfig
[ "$quiet" = --quiet ] || echo "vgpu uninstalled"
