#!/usr/bin/env bash
# Builds the guest side (vgpu.ko, libcuda.so.1, libnvidia-ml.so.1, vgpu-smi)
# and lays it out with install.sh/uninstall.sh in target/dist. Prints that path.
source "$(dirname "$0")/common.sh"
exec 3>&1 1>&2
kmod=$("$REPO_ROOT/scripts/build-kmod.sh")
(cd "$REPO_ROOT" && cargo build -q --release -p vgpu-userlib -p vgpu-nvml-compat --lib --bin vgpu-smi)
dist="$REPO_ROOT/target/dist"
rm -rf "$dist" && mkdir -p "$dist"
cp "$kmod" "$dist/vgpu.ko"
cp "$REPO_ROOT/target/release/libcuda.so" "$dist/libcuda.so.1"
cp "$REPO_ROOT/target/release/libnvidia_ml.so" "$dist/libnvidia-ml.so.1"
cp "$REPO_ROOT/target/release/vgpu-smi" "$dist/vgpu-smi"
cp "$REPO_ROOT/scripts/install.sh" "$REPO_ROOT/scripts/uninstall.sh" "$dist/"
echo "$dist" >&3
