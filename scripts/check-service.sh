#!/usr/bin/env bash
# CI for the host service without a GPU: `systemd-analyze verify` on
# vgpu-host@.service (where systemd is installed), then `vgpu-host check`
# with the simulator executor's configuration, as docs/install.md runs it:
# it must find nothing missing, and must name what is missing for a QEMU
# command line without shared guest RAM and for a GPU configuration on a
# host without one. Usage: scripts/check-service.sh [VGPU_HOST_BINARY]
source "$(dirname "$0")/common.sh"
cd "$REPO_ROOT" || exit 1
bin=${1:-}
if [ -z "$bin" ]; then
    cargo build -q -p vgpu-host
    bin=$REPO_ROOT/target/debug/vgpu-host
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What install-host.sh puts in place, into a scratch root.
"$REPO_ROOT/scripts/install-host.sh" "$bin" --destdir "$work/root"
for f in usr/bin/vgpu-host etc/systemd/system/vgpu-host@.service etc/vgpu/example.toml \
    etc/libvirt/hooks/qemu.d/vgpu; do
    [ -e "$work/root/$f" ] || die "install-host.sh did not install /$f"
done

if command -v systemd-analyze >/dev/null; then
    # verify wants the unit's executables to exist and a concrete instance.
    sed "s|/usr/bin/vgpu-host|$bin|" host/systemd/vgpu-host@.service >"$work/vgpu-host@demo.service"
    out=$(systemd-analyze verify --man=no "$work/vgpu-host@demo.service" 2>&1) || die "systemd-analyze verify: $out"
    # Warnings about the user and group that only the install creates are expected.
    if echo "$out" | grep -v -e "vgpu" -e '^$' | grep -q .; then die "systemd-analyze verify: $out"; fi
    grep -q '^MemoryDenyWriteExecute' host/systemd/vgpu-host@.service && die "the unit must not deny W^X: CUDA JITs"
    log "systemd-analyze verify: vgpu-host@.service ok"
else
    log "systemd-analyze not installed: unit not verified"
fi

# The simulator configuration of docs/install.md, with its socket under $work.
mkdir -p "$work/run/demo"
sed -e "s|/run/vgpu/VM|$work/run/demo|" -e 's|^executor = "cuda"|executor = "sim"|' \
    host/systemd/example.toml >"$work/demo.toml"
grep -q '^executor = "sim"' "$work/demo.toml" || die "example.toml: no executor line to switch"
echo '-machine pc,memory-backend=mem0 -object memory-backend-memfd,id=mem0,size=1G,share=on' >"$work/qemu.good"
echo 'qemu-system-x86_64 -m 1G -enable-kvm' >"$work/qemu.private"

"$bin" check --config "$work/demo.toml" --qemu-cmdline "$work/qemu.good" >"$work/out" 2>&1 \
    || { cat "$work/out" >&2; die "vgpu-host check (sim): found something missing"; }
grep -q '^vgpu-host check: nothing missing' "$work/out" || die "vgpu-host check: $(cat "$work/out")"

rc=0; "$bin" check --config "$work/demo.toml" --qemu-cmdline "$work/qemu.private" >"$work/out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q '^FAIL guest RAM: .*memory-backend-memfd' "$work/out" \
    || die "vgpu-host check on private guest RAM (exit $rc): $(cat "$work/out")"

if [ ! -e /dev/nvidiactl ]; then
    rc=0; "$bin" check --dev-dir "$work/no-dev" >"$work/out" 2>&1 || rc=$?
    [ $rc = 1 ] && grep -q '^FAIL GPU: ' "$work/out" && grep -q '^FAIL driver: ' "$work/out" \
        || die "vgpu-host check without a GPU (exit $rc): $(cat "$work/out")"
fi
log "vgpu-host check: ok"
