#!/usr/bin/env bash
# Installs vgpu-host as a service on the GPU host (docs/install.md, "Host
# service"): the binary in /usr/bin, the template unit vgpu-host@.service,
# /etc/vgpu/ with an example configuration, the unprivileged system user
# `vgpu` the unit runs as, and, where libvirt is installed, its hook
# /etc/libvirt/hooks/qemu.d/vgpu (starts and stops vgpu-host with the domain
# of the same name; docs/install.md, "libvirt"). Then, per VM:
#   cp /etc/vgpu/example.toml /etc/vgpu/VM.toml   (edit: socket, executor)
#   sudo -u vgpu vgpu-host check --vm VM
#   systemctl enable --now vgpu-host@VM
# Usage: sudo scripts/install-host.sh [VGPU_HOST_BINARY] [--destdir DIR]
# (--destdir: into DIR, without creating the user or reloading systemd: tests.)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$repo/target/release/vgpu-host destdir=
while [ $# -gt 0 ]; do
    case "$1" in
        --destdir) destdir=$2; shift 2 ;;
        *) bin=$1; shift ;;
    esac
done
[ -x "$bin" ] || { echo "install-host.sh: $bin missing (cargo build --release -p vgpu-host)" >&2; exit 1; }
[ -n "$destdir" ] || [ "$(id -u)" = 0 ] || { echo "install-host.sh: run as root" >&2; exit 1; }

install -D -m 0755 "$bin" "$destdir/usr/bin/vgpu-host"
install -D -m 0644 "$repo/host/systemd/vgpu-host@.service" "$destdir/etc/systemd/system/vgpu-host@.service"
install -d -m 0755 "$destdir/etc/vgpu"
install -m 0644 "$repo/host/systemd/example.toml" "$destdir/etc/vgpu/example.toml"
libvirt_hook=
if [ -n "$destdir" ] || [ -d /etc/libvirt ]; then
    libvirt_hook=/etc/libvirt/hooks/qemu.d/vgpu
    install -D -m 0755 "$repo/host/libvirt/qemu-hook.sh" "$destdir$libvirt_hook"
fi
[ -z "$destdir" ] || exit 0

if ! getent passwd vgpu >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "vgpu device model" vgpu
    echo "install-host.sh: created the system user vgpu"
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
else
    echo "install-host.sh: systemd is not running: start vgpu-host by hand (docs/install.md)"
fi
if [ -n "$libvirt_hook" ]; then
    echo "install-host.sh: installed the libvirt hook $libvirt_hook (restart libvirtd to load it)"
fi
echo "vgpu-host installed; per VM: /etc/vgpu/VM.toml, then: sudo -u vgpu vgpu-host check --vm VM; systemctl enable --now vgpu-host@VM"
