#!/usr/bin/env bash
# Installs what the build and the VM tests need on a fresh Debian 12 machine.
# Idempotent: a stamp records what was installed; rerunning is cheap.
source "$(dirname "$0")/common.sh"

stamp="$VGPU_CACHE/deps.stamp"
want="deps-v7"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && command -v bindgen >/dev/null \
    && command -v clang$LLVM_SUFFIX >/dev/null; then
    exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

log "installing Debian packages"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    clang$LLVM_SUFFIX lld$LLVM_SUFFIX llvm$LLVM_SUFFIX libclang$LLVM_SUFFIX-dev \
    flex bison bc libelf-dev libssl-dev cpio xz-utils kmod busybox-static \
    ninja-build libglib2.0-dev libpixman-1-dev libslirp-dev pkg-config \
    libcap-ng-dev libattr1-dev libfdt-dev device-tree-compiler \
    seabios qemu-system-data dpkg-dev libc6-dev python3-venv \
    udev passwd util-linux g++ unzip lintian >/dev/null
# libvirtd, its QEMU driver and virsh for scripts/test-libvirt.sh, which
# skips where they are missing (no recommends: it runs our QEMU, not Debian's).
$SUDO apt-get install -y -qq --no-install-recommends \
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients >/dev/null \
    || log "libvirt could not be installed: scripts/test-libvirt.sh will skip"

log "installing Python build tools for QEMU"
python3 -m pip install -q 'meson>=1.5' 'pycotap==1.3.1'

log "installing rust-src and bindgen"
rustup component add rust-src
if ! command -v bindgen >/dev/null; then
    cargo install -q bindgen-cli --version 0.73.2 --locked
fi
echo "$want" >"$stamp"
log "dependencies ready"
