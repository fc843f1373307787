#!/usr/bin/env bash
# Builds vgpu.ko against the cached guest kernel, with the kernel's clippy
# lints, and fails on any compiler or clippy warning. Prints the .ko path.
# With VGPU_KERNEL_VARIANT set, builds against that kernel variant from a
# copy of the sources in target/kmod-<variant> (kbuild refuses MO= next to
# the normal build's objects), leaving the normal build alone.
source "$(dirname "$0")/common.sh"
# stdout carries only the result path; everything else goes to stderr.
exec 3>&1 1>&2
kdir=${KDIR:-$("$REPO_ROOT/scripts/build-kernel.sh")}
# Per checkout: worktrees build at the same time against the one cached kernel.
mkdir -p "$REPO_ROOT/target"
build_log="$REPO_ROOT/target/kmod-build.log"
out_dir="$REPO_ROOT"
if [ -n "${VGPU_KERNEL_VARIANT:-}" ]; then
    out_dir="$REPO_ROOT/target/kmod-$VGPU_KERNEL_VARIANT"
    build_log="$out_dir/build.log"
    mkdir -p "$out_dir"
    # Sources only; -p keeps mtimes, so unchanged files do not rebuild.
    rm -rf "$out_dir/uapi"
    (cd "$REPO_ROOT" && find Kbuild kmod uapi/src -type f \( -name Kbuild -o -name '*.rs' \
        -o -name '*.c' -o -name '*.h' \) -exec cp -p -u --parents {} "$out_dir/" \;)
fi
make -C "$kdir" M="$out_dir" LLVM=$LLVM_SUFFIX CLIPPY=1 -j"$(nproc)" modules >"$build_log" 2>&1 \
    || { cat "$build_log" >&2; die "vgpu.ko did not build"; }
if grep -qE '^(warning|error)' "$build_log"; then
    cat "$build_log" >&2
    die "vgpu.ko builds with warnings"
fi
echo "$out_dir/vgpu.ko" >&3
