#!/usr/bin/env bash
# Builds the guest kernel (Linux 7.2 from Debian's linux-source package) with
# the repo's config fragment. Cached in $VGPU_CACHE/linux-<version>-<hash>;
# prints that directory (the build tree out-of-tree modules build against).
# VGPU_KERNEL_VARIANT=debug merges tests/vm/kernel-debug.config (KASAN,
# lockdep) on top; its own hash keeps the normal kernel's cache untouched.
source "$(dirname "$0")/common.sh"
# stdout carries only the result path; everything else goes to stderr.
exec 3>&1 1>&2

fragments=("$REPO_ROOT/tests/vm/kernel.config")
case "${VGPU_KERNEL_VARIANT:-}" in
    "") ;;
    debug) fragments+=("$REPO_ROOT/tests/vm/kernel-debug.config") ;;
    *) die "unknown VGPU_KERNEL_VARIANT=$VGPU_KERNEL_VARIANT (known: debug)" ;;
esac
src_dir=$(ls -d "$VGPU_CACHE"/linux-source-$KERNEL_SERIES.*/ 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$src_dir" ]; then
    log "downloading linux-source-$KERNEL_SERIES"
    newer_apt update -qq
    tmp=$(mktemp -d)
    (cd "$tmp" && newer_apt download "linux-source-$KERNEL_SERIES") || die "linux-source-$KERNEL_SERIES did not download"
    deb=$(ls "$tmp"/linux-source-*.deb)
    ver=$(dpkg-deb -f "$deb" Version)
    dpkg -x "$deb" "$tmp/x"
    mkdir -p "$VGPU_CACHE/linux-source-$ver"
    tar -C "$VGPU_CACHE/linux-source-$ver" --strip-components=1 -xf "$tmp"/x/usr/src/linux-source-$KERNEL_SERIES.tar.xz
    rm -rf "$tmp"
    src_dir="$VGPU_CACHE/linux-source-$ver/"
fi
src_dir=${src_dir%/}
ver=${src_dir##*/linux-source-}
key=$(config_hash "${fragments[@]}" <(rustc --version) <(bindgen --version))
out="$VGPU_CACHE/linux-$ver-$key"
if [ -f "$out/.vgpu-built" ] && [ -f "$out/Module.symvers" ]; then echo "$out" >&3; exit 0; fi

log "building Linux $ver (config $key) in $out"
mkdir -p "$out"
mk() { make -C "$src_dir" O="$out" LLVM=$LLVM_SUFFIX -j"$(nproc)" "$@"; }
mk tinyconfig >/dev/null
"$src_dir"/scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "${fragments[@]}" >/dev/null
mk olddefconfig >/dev/null
# Every line of the fragments must have survived olddefconfig.
missing=""
while read -r line; do
    case "$line" in
        CONFIG_*=*) grep -qxF -- "$line" "$out/.config" || missing+=" $line" ;;
        "# CONFIG_"*" is not set")
            opt=${line#\# }; opt=${opt%% *}
            ! grep -q "^$opt=" "$out/.config" || missing+=" $line" ;;
    esac
done < <(cat "${fragments[@]}")
[ -z "$missing" ] || die "kernel config lost: $missing (is Rust available? make LLVM=$LLVM_SUFFIX rustavailable)"
# `modules` also writes Module.symvers, which out-of-tree modules link against.
mk bzImage modules >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log" >&2; die "kernel build failed"; }
touch "$out/.vgpu-built"
log "kernel ready: $out/arch/x86/boot/bzImage"
echo "$out" >&3
