#!/usr/bin/env bash
# Builds qemu-system-x86_64 (>= 10.1, for the vfio-user-pci client) from
# Debian's qemu source package. Cached in $VGPU_CACHE/qemu-<version>-<hash>;
# prints the path of the binary.
source "$(dirname "$0")/common.sh"
# stdout carries only the result path; everything else goes to stderr.
exec 3>&1 1>&2

configure_flags=(--target-list=x86_64-softmmu --without-default-features
    --enable-kvm --enable-tcg --enable-slirp --enable-virtfs --enable-attr
    --enable-cap-ng --enable-fdt=system --disable-docs --disable-werror
    --disable-install-blobs)

src_dir=$(ls -d "$VGPU_CACHE"/qemu-src-*/ 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$src_dir" ]; then
    log "downloading Debian's qemu source package"
    newer_apt update -qq
    tmp=$(mktemp -d)
    # The index may list versions whose files are gone: try each, newest first.
    versions=$(newer_apt_cache showsrc qemu 2>/dev/null | awk '/^Version:/ {print $2}' | sort -rV | uniq)
    got=""
    for v in $versions; do
        up=${v#*:}; up=${up%%+*}; up=${up%%-*}
        dpkg --compare-versions "$up" ge "$QEMU_MIN_VERSION" || continue
        if (cd "$tmp" && newer_apt source --download-only "qemu=$v" >/dev/null 2>&1); then got=$v; break; fi
        rm -f "$tmp"/*
    done
    [ -n "$got" ] || die "no qemu >= $QEMU_MIN_VERSION source package could be downloaded"
    (cd "$tmp" && dpkg-source --no-check -x ./*.dsc src >/dev/null)
    up=${got#*:}
    mv "$tmp/src" "$VGPU_CACHE/qemu-src-$up"
    rm -rf "$tmp"
    src_dir="$VGPU_CACHE/qemu-src-$up/"
fi
src_dir=${src_dir%/}
ver=${src_dir##*/qemu-src-}
# Fixes we carry for QEMU bugs that break the test bed (each patch says why).
patches=("$REPO_ROOT"/tests/vm/qemu-patches/*.patch)
key=$( { printf '%s\n' "${configure_flags[@]}"; cat "${patches[@]}"; } | sha256sum | cut -c1-12)
out="$VGPU_CACHE/qemu-$ver-$key"
if [ -x "$out/qemu-system-x86_64" ]; then echo "$out/qemu-system-x86_64" >&3; exit 0; fi

log "building QEMU $ver in $out"
rm -rf "$out.src"
cp -a "$src_dir" "$out.src"
for p in "${patches[@]}"; do
    patch -d "$out.src" -p1 --quiet <"$p" || die "QEMU patch $(basename "$p") does not apply"
done
src_dir="$out.src"
# The +ds tarball lacks firmware blobs that configure insists on; we use
# Debian's seabios at run time, so empty placeholders are enough.
for f in $(grep -ho "edk2-[a-z0-9_.-]*\.fd" "$src_dir/pc-bios/meson.build" | sort -u); do
    [ -e "$src_dir/pc-bios/$f.bz2" ] || bzip2 -c </dev/null >"$src_dir/pc-bios/$f.bz2"
done
rm -rf "$out.build"; mkdir -p "$out.build"
(cd "$out.build" && "$src_dir/configure" "${configure_flags[@]}" >configure.log 2>&1) \
    || { tail -n 30 "$out.build/configure.log" >&2; die "QEMU configure failed"; }
(cd "$out.build" && ninja qemu-system-x86_64 >build.log 2>&1) \
    || { tail -n 30 "$out.build/build.log" >&2; die "QEMU build failed"; }
mkdir -p "$out"
strip -o "$out/qemu-system-x86_64" "$out.build/qemu-system-x86_64"
rm -rf "$out.build" "$out.src"
log "QEMU ready: $out/qemu-system-x86_64"
echo "$out/qemu-system-x86_64" >&3
