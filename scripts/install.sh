#!/usr/bin/env bash
# Installs vgpu in a guest like a real GPU driver, from a dist directory
# (scripts/make-dist.sh builds one; this script sits inside it):
#   - vgpu.ko for the running kernel, registered with depmod; udev loads it
#     for the VGPU-STUB by its PCI alias
#   - /etc/modprobe.d/vgpu.conf keeping nouveau and nova-core off the stub
#   - a udev rule giving /dev/vgpu* to group `vgpu`, mode 0660
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
[ ! -e "$manifest" ] || "$dist/uninstall.sh" --quiet
mkdir -p "$state"
: >"$manifest"
record() { echo "$1" >>"$manifest"; }

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

[ -d /etc/modprobe.d ] || { mkdir -p /etc/modprobe.d; record dir:/etc/modprobe.d; }
cat >/etc/modprobe.d/vgpu.conf <<'CONF'
# vgpu: the VGPU-STUB (10de:2331, subsystem 10de:5647) belongs to vgpu.ko.
# nouveau and nova-core match every NVIDIA display device; keep them off.
blacklist nouveau
blacklist nova_core
CONF
record /etc/modprobe.d/vgpu.conf

if ! getent group vgpu >/dev/null; then
    groupadd --system vgpu
    record group:vgpu
fi
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
# udev must know the rule before the node appears.
if have_udev; then udevadm control --reload; fi
if [ "${1:-}" != "--no-load" ]; then
    if command -v modprobe >/dev/null; then
        modprobe vgpu
    elif ! grep -q '^vgpu ' /proc/modules; then
        insmod "/lib/modules/$kver/extra/vgpu.ko"
    fi
    if have_udev; then
        udevadm trigger --subsystem-match=misc --action=add
        udevadm settle --timeout=10
    fi
fi
echo "vgpu installed (libraries in $libdir; uninstall: $state/uninstall.sh)"
