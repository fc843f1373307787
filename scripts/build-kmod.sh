#!/usr/bin/env bash
# Builds vgpu.ko against the cached guest kernel, with the kernel's clippy
# lints, and fails on any compiler or clippy warning. Prints the .ko path.
# With VGPU_KERNEL_VARIANT set, builds against that kernel variant into
# target/kmod-<variant> (kbuild's MO=), leaving the normal build's objects alone.
source "$(dirname "$0")/common.sh"
# stdout carries only the result path; everything else goes to stderr.
exec 3>&1 1>&2
kdir=${KDIR:-$("$REPO_ROOT/scripts/build-kernel.sh")}
# Per checkout: worktrees build at the same time against the one cached kernel.
mkdir -p "$REPO_ROOT/target"
build_log="$REPO_ROOT/target/kmod-build.log"
out_dir="$REPO_ROOT"
mo=()
if [ -n "${VGPU_KERNEL_VARIANT:-}" ]; then
    out_dir="$REPO_ROOT/target/kmod-$VGPU_KERNEL_VARIANT"
    build_log="$out_dir/build.log"
    mkdir -p "$out_dir"
    mo=(MO="$out_dir")
fi
make -C "$kdir" M="$REPO_ROOT" "${mo[@]}" LLVM=$LLVM_SUFFIX CLIPPY=1 -j"$(nproc)" modules >"$build_log" 2>&1 \
    || { cat "$build_log" >&2; die "vgpu.ko did not build"; }
if grep -qE '^(warning|error)' "$build_log"; then
    cat "$build_log" >&2
    die "vgpu.ko builds with warnings"
fi
echo "$out_dir/vgpu.ko" >&3
