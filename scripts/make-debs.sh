#!/usr/bin/env bash
# Builds vgpu's Debian packages with dpkg-deb into target/debs (or --out):
#   vgpu-libs             libcuda.so.1, libnvidia-ml.so.1 and their .so links
#                         in /usr/lib/x86_64-linux-gnu; ldconfig trigger
#   vgpu-driver           vgpu-smi, the udev rule, modprobe.d, group vgpu
#   vgpu-modules-KVER     vgpu.ko for kernel KVER (the one it was built for)
#   vgpu-host             vgpu-host, vgpu-host@.service, /etc/vgpu/, the libvirt hook, user vgpu
# The maintainer scripts and config files live in packaging/deb/. The
# version is the workspace's (Cargo.toml) with Debian revision --revision
# (default 1); timestamps are SOURCE_DATE_EPOCH (default: the last commit's),
# so the same binaries give byte-identical packages.
# Usage: scripts/make-debs.sh [--dist DIR] [--host-bin FILE] [--revision N] [--out DIR]
# (--dist: a scripts/make-dist.sh tree, built when not given; --host-bin: the
# vgpu-host binary, target/release/vgpu-host built when not given.)
# Prints the output directory.
source "$(dirname "$0")/common.sh"
exec 3>&1 1>&2
dist="" host_bin="" revision=1 out=$REPO_ROOT/target/debs
while [ $# -gt 0 ]; do
    case "$1" in
        --dist) dist=$2; shift 2 ;;
        --host-bin) host_bin=$2; shift 2 ;;
        --revision) revision=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) die "usage: make-debs.sh [--dist DIR] [--host-bin FILE] [--revision N] [--out DIR]" ;;
    esac
done
[ -n "$dist" ] || dist=$("$REPO_ROOT/scripts/make-dist.sh")
if [ -z "$host_bin" ]; then
    (cd "$REPO_ROOT" && cargo build -q --release -p vgpu-host --bin vgpu-host)
    host_bin=$REPO_ROOT/target/release/vgpu-host
fi
pkg=$REPO_ROOT/packaging/deb
upstream=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml")
[ -n "$upstream" ] || die "no version in Cargo.toml's [workspace.package]"
version=$upstream-$revision
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO_ROOT" log -1 --format=%ct)}
year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD)
maintainer="${DEBFULLNAME:-vgpu engineers} <${DEBEMAIL:-vgpu@example.org}>"
# The kernel the module was built for: the first word of its vermagic.
kver=$(modinfo -F vermagic "$dist/vgpu.ko" | cut -d' ' -f1)
[ -n "$kver" ] || die "$dist/vgpu.ko has no vermagic"
libdir=usr/lib/x86_64-linux-gnu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out" && mkdir -p "$out"

# dpkg-shlibdeps wants a source package around the binaries it reads.
mkdir -p "$work/src/debian"
printf 'Source: vgpu\n\nPackage: vgpu\nArchitecture: amd64\n' >"$work/src/debian/control"
shlibs_of() {
    (cd "$work/src" && dpkg-shlibdeps -O -e "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

# stage NAME: an empty package tree, with the files every package has.
stage() {
    local root=$work/$1
    mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$1"
    # DEP-5; the workspace's licence: GPL-2.0-only OR MIT.
    cat >"$root/usr/share/doc/$1/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vgpu
Source: https://github.com/vgpu/vgpu

Files: *
Copyright: $year vgpu engineers
License: GPL-2 or Expat

License: GPL-2
 This program is free software; you can redistribute it and/or modify it
 under the terms of the GNU General Public License, version 2, as published
 by the Free Software Foundation.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 2 can be found in /usr/share/common-licenses/GPL-2.

License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.
COPY
    {
        echo "vgpu ($version) unstable; urgency=medium"
        echo
        echo "  * Built from vgpu $upstream, commit $commit."
        echo
        echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    } | gzip -9n >"$root/usr/share/doc/$1/changelog.Debian.gz"
}

# script NAME FILE...: maintainer scripts and control files from packaging/deb.
script() {
    local name=$1 src=$2; shift 2
    for f in "$@"; do
        sed "s/@KVER@/$kver/g" "$pkg/$src/$f" >"$work/$name/DEBIAN/$f"
        case "$f" in post*|pre*) chmod 0755 "$work/$name/DEBIAN/$f" ;; *) chmod 0644 "$work/$name/DEBIAN/$f" ;; esac
    done
}

# build NAME CONTROL-FIELDS: control, md5sums, fixed modes and times, .deb.
build() {
    local name=$1 fields=$2 root=$work/$1
    find "$root" -type d -exec chmod 0755 {} +
    local size
    size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    {
        echo "Package: $name"
        echo "Source: vgpu"
        echo "Version: $version"
        echo "Architecture: amd64"
        echo "Maintainer: $maintainer"
        echo "Installed-Size: $size"
        echo "$fields"
        echo "Homepage: https://github.com/vgpu/vgpu"
    } | grep -v '^$' >"$root/DEBIAN/control"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
        | xargs -0r md5sum) >"$root/DEBIAN/md5sums"
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
    find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${name}_${version}_amd64.deb" >/dev/null
}

# man PAGE NAME: a manual page, compressed as dh_installman does.
man() {
    local page=$1 root=$work/$2 section=${1##*.}
    mkdir -p "$root/usr/share/man/man$section"
    gzip -9n <"$pkg/$2/$page" >"$root/usr/share/man/man$section/$page.gz"
}

# Debian strips binaries (dh_strip): debug info is for -dbgsym packages.
strip_into() { install -D -m "$3" "$1" "$2" && strip --remove-section=.comment --remove-section=.note "${4:---strip-unneeded}" "$2"; }

# vgpu-libs
r=$work/vgpu-libs
stage vgpu-libs
strip_into "$dist/libcuda.so.1" "$r/$libdir/libcuda.so.1" 0644
strip_into "$dist/libnvidia-ml.so.1" "$r/$libdir/libnvidia-ml.so.1" 0644
# The .so names too: some programs dlopen("libcuda.so") (install.sh's links).
ln -s libcuda.so.1 "$r/$libdir/libcuda.so"
ln -s libnvidia-ml.so.1 "$r/$libdir/libnvidia-ml.so"
echo "activate-noawait ldconfig" >"$r/DEBIAN/triggers"
printf 'libcuda 1 vgpu-libs (>= %s)\nlibnvidia-ml 1 vgpu-libs (>= %s)\n' "$version" "$version" >"$r/DEBIAN/shlibs"
chmod 0644 "$r/DEBIAN/triggers" "$r/DEBIAN/shlibs"
install -D -m 0644 "$pkg/vgpu-libs/lintian-overrides" "$r/usr/share/lintian/overrides/vgpu-libs"
build vgpu-libs "Section: libs
Priority: optional
Multi-Arch: same
Depends: $(shlibs_of "$r/$libdir/libcuda.so.1" "$r/$libdir/libnvidia-ml.so.1")
Provides: libcuda1, libnvidia-ml1
Conflicts: libcuda1, libnvidia-ml1
Replaces: libcuda1, libnvidia-ml1
Description: CUDA driver and NVML libraries for vgpu guests
 libcuda.so.1 and libnvidia-ml.so.1 of vgpu: CUDA programs, PyTorch and
 nvidia-smi-like tools in a virtual machine use the host's GPU through the
 VGPU-STUB device (vgpu-driver). They take the place of NVIDIA's libraries
 of the same names."

# vgpu-driver
r=$work/vgpu-driver
stage vgpu-driver
strip_into "$dist/vgpu-smi" "$r/usr/bin/vgpu-smi" 0755 --strip-all
man vgpu-smi.1 vgpu-driver
install -D -m 0644 "$pkg/vgpu-driver/70-vgpu.rules" "$r/lib/udev/rules.d/70-vgpu.rules"
install -D -m 0644 "$pkg/vgpu-driver/vgpu.conf" "$r/etc/modprobe.d/vgpu.conf"
echo /etc/modprobe.d/vgpu.conf >"$r/DEBIAN/conffiles"
chmod 0644 "$r/DEBIAN/conffiles"
script vgpu-driver vgpu-driver postinst prerm postrm
install -D -m 0644 "$pkg/vgpu-driver/lintian-overrides" "$r/usr/share/lintian/overrides/vgpu-driver"
build vgpu-driver "Section: kernel
Priority: optional
Depends: vgpu-libs (= $version), vgpu-modules (= $version), kmod, passwd, $(shlibs_of "$r/usr/bin/vgpu-smi")
Description: vgpu guest driver: device nodes, vgpu-smi
 Sets up a virtual machine for vgpu's VGPU-STUB device: the group vgpu
 whose members may use /dev/vgpu* (by udev rule, and by module parameters
 where no udev runs), vgpu.ko kept off nouveau and nova-core, and vgpu-smi,
 which lists the devices as nvidia-smi does. The module itself comes in
 vgpu-modules-KVER for the guest's kernel."

# vgpu-modules-KVER
name=vgpu-modules-$kver
r=$work/$name
stage "$name"
strip_into "$dist/vgpu.ko" "$r/lib/modules/$kver/updates/vgpu.ko" 0644 --strip-debug
script "$name" vgpu-modules postinst prerm postrm
install -D -m 0644 "$pkg/vgpu-modules/lintian-overrides" "$r/usr/share/lintian/overrides/$name"
build "$name" "Section: kernel
Priority: optional
Depends: kmod
Provides: vgpu-modules (= $version)
Description: vgpu guest kernel module for Linux $kver
 vgpu.ko, the driver of vgpu's VGPU-STUB PCI device, built for kernel
 $kver. It is written in Rust against that kernel's build tree and
 toolchain, so it is shipped built (as linux-modules-* are) rather than
 compiled at install time."

# vgpu-host
r=$work/vgpu-host
stage vgpu-host
strip_into "$host_bin" "$r/usr/bin/vgpu-host" 0755 --strip-all
man vgpu-host.8 vgpu-host
install -D -m 0644 "$REPO_ROOT/host/systemd/vgpu-host@.service" "$r/lib/systemd/system/vgpu-host@.service"
install -D -m 0644 "$REPO_ROOT/host/systemd/example.toml" "$r/etc/vgpu/example.toml"
# libvirt's hook (run-parts of qemu.d/, so an operator's own hooks/qemu
# stays theirs): starts and stops vgpu-host with a domain that has
# /etc/vgpu/NAME.toml (docs/install.md, "libvirt").
install -D -m 0755 "$REPO_ROOT/host/libvirt/qemu-hook.sh" "$r/etc/libvirt/hooks/qemu.d/vgpu"
printf '%s\n' /etc/vgpu/example.toml /etc/libvirt/hooks/qemu.d/vgpu >"$r/DEBIAN/conffiles"
chmod 0644 "$r/DEBIAN/conffiles"
script vgpu-host vgpu-host postinst prerm postrm
install -D -m 0644 "$pkg/vgpu-host/lintian-overrides" "$r/usr/share/lintian/overrides/vgpu-host"
build vgpu-host "Section: misc
Priority: optional
Depends: passwd, $(shlibs_of "$r/usr/bin/vgpu-host")
Description: vgpu device model: serves a GPU to virtual machines
 vgpu-host serves vgpu's VGPU-STUB PCI device to QEMU over vfio-user and runs
 the guests' CUDA work on the host's GPU through NVIDIA's driver. One
 systemd instance per VM, vgpu-host@VM.service, reads /etc/vgpu/VM.toml and
 runs as the unprivileged user vgpu; vgpu-host check says what the host is
 missing."

log "Debian packages $version (kernel $kver) in $out"
echo "$out" >&3
