#!/usr/bin/env bash
# Builds vgpu.ko against the cached guest kernel; prints the path of the .ko.
source "$(dirname "$0")/common.sh"
kdir=${KDIR:-$("$REPO_ROOT/scripts/build-kernel.sh")}
make -C "$kdir" M="$REPO_ROOT" LLVM=$LLVM_SUFFIX -j"$(nproc)" modules >&2 \
    || die "vgpu.ko did not build"
echo "$REPO_ROOT/vgpu.ko"
