#!/usr/bin/env bash
# Installs vgpu in a guest like a real GPU driver, from a dist directory
# (scripts/make-dist.sh builds one; this script sits inside it):
#   - vgpu.ko for the running kernel, registered with depmod; udev loads it
#     for the VGPU-STUB by its PCI alias
#   - /etc/modprobe.d/vgpu.conf keeping nouveau and nova-core off the stub,
#     and the module parameters that give /dev/vgpu* group `vgpu`, mode 0660
#     when no udev runs (as NVIDIA's NVreg_DeviceFileGID/Mode)
#   - a udev rule giving /dev/vgpu* to group `vgpu`, mode 0660
#   - a vgpu.ko that is already loaded (an older version, on a VM that ran
#     it) is reloaded when no process holds a device open; otherwise it
#     stays, and its nodes get group `vgpu`, mode 0660 in place
#   - libcuda.so.1 and libnvidia-ml.so.1 (and their .so links) in the system
#     library directory, registered with ldconfig; vgpu-smi in /usr/bin
# Every path it creates is recorded in /var/lib/vgpu/manifest, which
# uninstall.sh removes again. Usage: sudo ./install.sh [--no-load]
set -euo pipefail
dist=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
for f in vgpu.ko libcuda.so.1 libnvidia-ml.so.1 vgpu-smi uninstall.sh; do
    [ -e "$dist/$f" ] || { echo "install.sh: $dist/$f is missing" >&2; exit 1; }
done

state=/var/lib/vgpu
manifest=$state/manifest
# A reinstall keeps the group (and its members) and a loaded module; the
# group stays recorded as ours if the first install created it.
group_ours=
if [ -e "$manifest" ]; then
    ! grep -qx group:vgpu "$manifest" || group_ours=yes
    "$dist/uninstall.sh" --quiet --upgrade
fi
mkdir -p "$state"
: >"$manifest"
record() { echo "$1" >>"$manifest"; }
say() { echo "install.sh: $*"; }

# The distribution's library directory (multiarch on Debian/Ubuntu).
libdir=/usr/lib/x86_64-linux-gnu
[ -d "$libdir" ] || libdir=/usr/lib64
[ -d "$libdir" ] || libdir=/usr/lib

kver=$(uname -r)
# A kernel installed without a module tree (e.g. booted directly) gets one;
# uninstall removes it again.
modules_dir_existed=yes
[ -d /lib/modules ] || modules_dir_existed=
[ -d "/lib/modules/$kver" ] || record "tree:/lib/modules/$kver"
# Removed after the tree above (the manifest is undone in order).
[ -n "$modules_dir_existed" ] || record dir:/lib/modules
install -D -m 0644 "$dist/vgpu.ko" "/lib/modules/$kver/extra/vgpu.ko"
record "/lib/modules/$kver/extra/vgpu.ko"

if ! getent group vgpu >/dev/null; then
    groupadd --system vgpu
    group_ours=yes
fi
[ -z "$group_ours" ] || record group:vgpu
gid=$(getent group vgpu | cut -d: -f3)
node_mode=0660

[ -d /etc/modprobe.d ] || { mkdir -p /etc/modprobe.d; record dir:/etc/modprobe.d; }
cat >/etc/modprobe.d/vgpu.conf <<CONF
# vgpu: the VGPU-STUB (10de:2331, subsystem 10de:5647) belongs to vgpu.ko.
# nouveau and nova-core match every NVIDIA display device; keep them off.
blacklist nouveau
blacklist nova_core
# /dev/vgpu* for group vgpu (gid $gid), mode $node_mode, with or without udev.
options vgpu device_file_gid=$gid device_file_mode=$node_mode
CONF
record /etc/modprobe.d/vgpu.conf
mkdir -p /etc/udev/rules.d
cat >/etc/udev/rules.d/70-vgpu.rules <<'RULE'
# vgpu device nodes: usable by members of group vgpu (e.g. the ollama user).
KERNEL=="vgpu[0-9]*", SUBSYSTEM=="misc", GROUP="vgpu", MODE="0660"
RULE
record /etc/udev/rules.d/70-vgpu.rules

install -m 0755 "$dist/libcuda.so.1" "$libdir/libcuda.so.1"
ln -sf libcuda.so.1 "$libdir/libcuda.so"
install -m 0755 "$dist/libnvidia-ml.so.1" "$libdir/libnvidia-ml.so.1"
ln -sf libnvidia-ml.so.1 "$libdir/libnvidia-ml.so"
for f in libcuda.so.1 libcuda.so libnvidia-ml.so.1 libnvidia-ml.so; do record "$libdir/$f"; done
install -m 0755 "$dist/vgpu-smi" /usr/bin/vgpu-smi
record /usr/bin/vgpu-smi
install -m 0755 "$dist/uninstall.sh" "$state/uninstall.sh"

if command -v depmod >/dev/null; then
    depmod -a "$kver"
else
    echo "install.sh: no depmod (kmod) here: vgpu.ko will not load by itself" >&2
fi
ldconfig
have_udev() { command -v udevadm >/dev/null && udevadm control --ping >/dev/null 2>&1; }
loaded() { grep -q '^vgpu ' /proc/modules; }
nodes() { for n in /dev/vgpu[0-9]*; do [ -e "$n" ] && echo "$n"; done; }
node_state() { nodes | xargs -r stat -c '%n %U:%G %a' | paste -sd ' '; }
load() {
    if command -v modprobe >/dev/null; then
        modprobe vgpu
    else
        insmod "/lib/modules/$kver/extra/vgpu.ko" device_file_gid="$gid" device_file_mode="$node_mode"
    fi
}
# The nodes of a module we cannot reload, set as the parameters would.
fix_nodes() {
    local before
    before=$(node_state)
    [ -n "$before" ] || return 0
    nodes | xargs chgrp vgpu
    nodes | xargs chmod "$node_mode"
    say "set group vgpu, mode $node_mode on the nodes (were: $before)"
}
if have_udev; then
    # udev must know the rule before the node appears.
    udevadm control --reload
else
    say "udev is not running: the module parameters in /etc/modprobe.d/vgpu.conf give /dev/vgpu* its group and mode"
fi
if loaded; then
    # Open files pin the module (the fops have an owner): refcnt counts them.
    holders=$(cat /sys/module/vgpu/refcnt 2>/dev/null || echo '?')
    if [ "${1:-}" = --no-load ]; then
        say "vgpu.ko is already loaded; --no-load: kept it"
        fix_nodes
    elif [ "$holders" = 0 ] && { modprobe -r vgpu 2>/dev/null || rmmod vgpu 2>/dev/null; }; then
        say "vgpu.ko was already loaded and no process held a device: reloaded it"
        load
    else
        say "vgpu.ko is already loaded and in use ($holders open files): kept it; the installed one loads at the next reload or boot"
        fix_nodes
    fi
elif [ "${1:-}" != "--no-load" ]; then
    load
fi
if have_udev && loaded; then
    udevadm trigger --subsystem-match=misc --action=add
    udevadm settle --timeout=10
fi
[ -z "$(node_state)" ] || say "device nodes: $(node_state)"
echo "vgpu installed (libraries in $libdir; uninstall: $state/uninstall.sh)"
