#!/usr/bin/env bash
# CI for the Debian packages without a VM: a second build from the same
# binaries must give byte-identical .debs (SOURCE_DATE_EPOCH), the control
# data must be what dpkg expects (version from Cargo.toml, conffiles,
# triggers), and lintian, where installed, must report no error or warning
# that packaging/deb's overrides do not explain. The VM scenario `packages`
# installs, upgrades, removes and purges them.
# Usage: scripts/check-debs.sh [DEBS]   (DEBS: a make-debs.sh output, built from
# $VGPU_DIST and $VGPU_HOST_BIN when not given)
source "$(dirname "$0")/common.sh"
debs=${1:-${VGPU_DEBS:-}}
build_args=(--dist "${VGPU_DIST:-$REPO_ROOT/target/dist}" --host-bin "${VGPU_HOST_BIN:-$REPO_ROOT/target/release/vgpu-host}")
[ -n "$debs" ] || debs=$("$REPO_ROOT/scripts/make-debs.sh" "${build_args[@]}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

again=$("$REPO_ROOT/scripts/make-debs.sh" "${build_args[@]}" --out "$work/again")
(cd "$debs" && sha256sum ./*.deb) >"$work/first"
(cd "$again" && sha256sum ./*.deb) >"$work/second"
diff -u "$work/first" "$work/second" >&2 || die "a second build of the packages differs (not reproducible)"
log "make-debs.sh: reproducible ($(wc -l <"$work/first") packages)"

upstream=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml")
for p in vgpu-libs vgpu-driver vgpu-host; do
    deb=$(echo "$debs/${p}_"*_amd64.deb)
    [ -f "$deb" ] || die "$p: no package in $debs"
    [ "$(dpkg-deb -f "$deb" Version)" = "$upstream-1" ] || die "$p: version $(dpkg-deb -f "$deb" Version), not $upstream-1"
done
dpkg-deb -I "$debs"/vgpu-libs_*.deb triggers | grep -qx 'activate-noawait ldconfig' || die "vgpu-libs: no ldconfig trigger"
dpkg-deb -I "$debs"/vgpu-driver_*.deb conffiles | grep -qx /etc/modprobe.d/vgpu.conf || die "vgpu-driver: modprobe.d is no conffile"
dpkg-deb -I "$debs"/vgpu-host_*.deb conffiles | grep -qx /etc/vgpu/example.toml || die "vgpu-host: example.toml is no conffile"
# (Whole listings: grep -q would close the pipe on dpkg-deb.)
grep -q ' \./lib/systemd/system/vgpu-host@\.service$' <<<"$(dpkg-deb -c "$debs"/vgpu-host_*.deb)" || die "vgpu-host: no unit"
grep -q '/updates/vgpu\.ko$' <<<"$(dpkg-deb -c "$debs"/vgpu-modules-*_amd64.deb)" || die "vgpu-modules: no vgpu.ko"
log "control data: ok"

if command -v lintian >/dev/null; then
    # Errors and warnings fail; info and pedantic tags are reported only.
    lintian --no-cfg --fail-on error,warning "$debs"/*.deb >"$work/lintian" 2>&1 \
        || { cat "$work/lintian" >&2; die "lintian found errors or warnings"; }
    log "lintian: no errors or warnings"
else
    log "lintian not installed: packages not linted"
fi
