#!/usr/bin/env bash
# Builds vgpu.ko against the cached guest kernel, with the kernel's clippy
# lints, and fails on any compiler or clippy warning. Prints the .ko path.
source "$(dirname "$0")/common.sh"
# stdout carries only the result path; everything else goes to stderr.
exec 3>&1 1>&2
kdir=${KDIR:-$("$REPO_ROOT/scripts/build-kernel.sh")}
# Per checkout: worktrees build at the same time against the one cached kernel.
mkdir -p "$REPO_ROOT/target"
build_log="$REPO_ROOT/target/kmod-build.log"
make -C "$kdir" M="$REPO_ROOT" LLVM=$LLVM_SUFFIX CLIPPY=1 -j"$(nproc)" modules >"$build_log" 2>&1 \
    || { cat "$build_log" >&2; die "vgpu.ko did not build"; }
if grep -qE '^(warning|error)' "$build_log"; then
    cat "$build_log" >&2
    die "vgpu.ko builds with warnings"
fi
echo "$REPO_ROOT/vgpu.ko" >&3
