#!/usr/bin/env bash
# The Debian packages (scripts/make-debs.sh), in the guest's chroot of the
# host's userspace, as docs/install.md ("Debian packages") installs them:
# the guest packages installed with dpkg (no udev here: the module
# parameters give the node its group), the GPU used by a service user in
# group vgpu (NVML, vgpu-smi, a CUDA program through ld.so.cache), an
# upgrade to a higher version, removal (config kept) and purge (the root as
# before); then the host package: unit, user and config, `vgpu-host check`
# as its user, removal and purge.
# Usage: packages.sh DEBS NEXT TOOLS CUDA_SUITE [UPPER LOWER]
#   DEBS, NEXT  two builds of the packages, NEXT with the higher version
#   TOOLS       directory with nvml-probe
#   CUDA_SUITE  the driver-API test program (dynamically linked)
#   UPPER, LOWER  the overlay's directories (what changed in the root)
# Prints one `@@RESULT name PASS|FAIL detail` line per check.
set -uo pipefail
debs=$1 next=$2 tools=$3 suite=$4 upper=${5:-/mnt/vgpu-upper} lower=${6:-/mnt/vgpu-lower}
export SYSTEMD_IGNORE_CHROOT=1
pass() { echo "@@RESULT $1 PASS 0ms $2"; }
fail() { echo "@@RESULT $1 FAIL 0ms $2"; }
check() { local name=$1 detail=$2; shift 2; if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi; }
oneline() { tr '\n' ' ' | cut -c1-400; }
libdir=/usr/lib/x86_64-linux-gnu
kver=$(uname -r)
guest_pkgs=(vgpu-libs vgpu-driver "vgpu-modules-$kver")

# What the root holds wherever it differs from the pristine lower root,
# apart from the test's scratch space and what dpkg, man-db, ldconfig and
# the shadow tools log, cache or back up on every run (their logs, caches,
# *-old and *- backups, locks).
fingerprint() {
    (cd "$upper" && find . -xdev \( -path ./tmp -o -path ./run -o -path ./opt/vgpu-test -o -path ./root \
        -o -path ./var/log -o -path ./var/cache/ldconfig -o -path ./var/cache/man -o -path ./var/cache/debconf \) -prune -o -print) \
        | sed 's|^\.||' | grep -v -E '^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-$|^/var/lib/dpkg/(.*-old|lock.*|triggers/Lock)$' \
        | sort | while read -r p; do
            [ -n "$p" ] || continue
            if [ -L "$p" ]; then
                [ "$(readlink "$p")" = "$(readlink "$lower$p" 2>/dev/null)" ] || echo "$p -> $(readlink "$p")"
            elif [ -f "$p" ]; then
                cmp -s "$p" "$lower$p" || echo "$p $(sha256sum <"$p" | cut -c1-16)"
            elif [ -d "$p" ]; then
                [ -d "$lower$p" ] || echo "$p dir"
            elif [ -e "$lower$p" ]; then
                echo "$p absent"
            fi
        done
}
# The libraries' files in the library directory, with their link targets.
lib_files() { find "$libdir" -maxdepth 1 \( -name 'libcuda.so*' -o -name 'libnvidia-ml.so*' \) -printf '%f:%l\n' | LC_ALL=C sort | paste -sd ' '; }
status() { dpkg-query -W -f='${db:Status-Abbrev}${Version} ' "$@" 2>&1; }
as_svc() { setpriv --reuid vgpu-svc --regid vgpu-svc --init-groups env -i PATH=/usr/bin:/bin "$@"; }
node() { stat -c '%U:%G %a' /dev/vgpu0 2>&1; }
wait_node() { for _ in $(seq 100); do [ -e /dev/vgpu0 ] && return; sleep 0.1; done; }
deb() { echo "$1"/"$2"_*_amd64.deb; }
loaded_from() { modinfo -n vgpu 2>&1; }
# dpkg makes a package's new directory as NAME.dpkg-new and renames it; on
# this guest's overlay (a tmpfs upper without xattrs) moving a new
# directory into one the lower root has is refused (EXDEV: it could not be
# marked opaque). So the packages' directories are made first; dpkg owns
# them all the same and removes them again with the package.
premake_dirs() {
    local d
    for d in "$@"; do dpkg-deb -c "$d"; done | awk '$1 ~ /^d/ { print substr($6, 2) }' \
        | while read -r dir; do [ -z "$dir" ] || [ -d "$dir" ] || mkdir -p "$dir"; done
}
export -f lib_files node loaded_from
export libdir

mkdir -p /opt/vgpu-test && cp -r "$tools"/. /opt/vgpu-test/ && cp "$suite" /opt/vgpu-test/cuda-suite \
    && chmod -R a+rX /opt/vgpu-test
# What scripts/install-host.sh leaves on a build machine where it ran is
# not in this guest's root, which starts as a fresh one would.
if getent passwd vgpu >/dev/null; then userdel vgpu 2>/dev/null; fi
if getent group vgpu >/dev/null; then groupdel vgpu; fi
rm -rf /etc/vgpu /usr/bin/vgpu-host /etc/systemd/system/vgpu-host@.service
# man-db's trigger rebuilds its whole index where there is none, which
# takes minutes over 9p under TCG; without this file it does nothing.
rm -f /var/lib/man-db/auto-update
# The service user: a system account, as a daemon's would be.
useradd --system --no-create-home --shell /usr/sbin/nologin vgpu-svc
[ "$(cat <(echo ok))" = ok ] || { fail setup "process substitution does not work (/dev/fd)"; exit 1; }
before=$(fingerprint)
check deb-no-udevd "no udevd runs in this guest" bash -c '! udevadm control --ping 2>/dev/null'

# 1. Install, as docs/install.md does.
# shellcheck disable=SC2046
premake_dirs $(deb "$debs" vgpu-libs) $(deb "$debs" vgpu-driver) $(deb "$debs" "vgpu-modules-$kver")
# shellcheck disable=SC2046
dpkg -i $(deb "$debs" vgpu-libs) $(deb "$debs" vgpu-driver) $(deb "$debs" "vgpu-modules-$kver") \
    </dev/null >/tmp/deb-install.log 2>&1
rc=$?
check deb-install "exit $rc: $(status "${guest_pkgs[@]}") $(grep -m1 'udev is not running' /tmp/deb-install.log)" \
    bash -c "[ $rc = 0 ] && [ \"\$(dpkg-query -W -f='\${db:Status-Abbrev}\n' ${guest_pkgs[*]} | sort -u)\" = 'ii ' ]"
[ $rc = 0 ] || oneline </tmp/deb-install.log
want_libs="libcuda.so.1: libcuda.so:libcuda.so.1 libnvidia-ml.so.1: libnvidia-ml.so:libnvidia-ml.so.1"
check deb-files "libs: $(lib_files); cache: $(ldconfig -p | grep -c 'libcuda.so.1 ') libcuda.so.1; module $(loaded_from)" \
    bash -c "[ \"\$(lib_files)\" = '$want_libs' ] && [ \$(ldconfig -p | grep -c 'libcuda.so.1 ') = 1 ] \
        && [ -x /usr/bin/vgpu-smi ] && [ -f /lib/udev/rules.d/70-vgpu.rules ] \
        && grep -q \"^options vgpu device_file_gid=\$(getent group vgpu | cut -d: -f3) device_file_mode=0660\$\" /etc/modprobe.d/vgpu-group.conf \
        && [ \"\$(loaded_from)\" = /lib/modules/$kver/updates/vgpu.ko ] && grep -q '^vgpu ' /proc/modules" \
    2>/dev/null
wait_node
check deb-node "/dev/vgpu0 is $(node)" test "$(node)" = "root:vgpu 660"

# 2. A service user in group vgpu: NVML, vgpu-smi, a CUDA program.
usermod -aG vgpu vgpu-svc
out=$(as_svc /opt/vgpu-test/nvml-probe 2>&1); rc=$?
check deb-service-nvml "exit $rc: $(echo "$out" | grep -m1 DISCOVERED)" \
    bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q '^DISCOVERED 1$'" "$out"
out=$(as_svc vgpu-smi 2>&1); rc=$?
check deb-service-smi "exit $rc: $(echo "$out" | grep -m1 -i -e 'vgpu\|H100' | cut -c1-120)" \
    bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q 'H100'" "$out"
out=$(as_svc /opt/vgpu-test/cuda-suite --only vecadd 2>&1); rc=$?
check deb-service-cuda "exit $rc: $(echo "$out" | grep -m1 '^CASE vecadd')" \
    bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q '^CASE vecadd PASS'" "$out"

# 3. Upgrade to the higher version: every file replaced in place (no second
# set of links), the idle module reloaded, a local conffile edit kept.
echo "# a local edit" >>/etc/modprobe.d/vgpu.conf
libs_before=$(lib_files) sysfs_before=$(stat -c %i /sys/module/vgpu)
# shellcheck disable=SC2046
dpkg -i $(deb "$next" vgpu-libs) $(deb "$next" vgpu-driver) $(deb "$next" "vgpu-modules-$kver") \
    </dev/null >/tmp/deb-upgrade.log 2>&1
rc=$?
new=$(dpkg-deb -f "$(deb "$next" vgpu-libs)" Version)
wait_node
check deb-upgrade "exit $rc: $(status "${guest_pkgs[@]}") $(grep -m1 'reloaded vgpu.ko' /tmp/deb-upgrade.log)" \
    bash -c "[ $rc = 0 ] && [ \"\$(dpkg-query -W -f='\${db:Status-Abbrev}\${Version}\n' ${guest_pkgs[*]} | sort -u)\" = 'ii $new' ] \
        && grep -q 'reloaded vgpu.ko' /tmp/deb-upgrade.log && [ \"\$(stat -c %i /sys/module/vgpu)\" != $sysfs_before ]"
[ $rc = 0 ] || oneline </tmp/deb-upgrade.log
# (The conffile edited above is the one difference dpkg may report.)
verify=$(dpkg --verify "${guest_pkgs[@]}" 2>&1 | grep -v ' c /etc/modprobe.d/vgpu.conf$')
check deb-upgrade-files "libs: $(lib_files); cache: $(ldconfig -p | grep -c 'libcuda.so.1 '); verify: ${verify:-clean}; $(tail -n1 /etc/modprobe.d/vgpu.conf)" \
    bash -c "[ \"\$(lib_files)\" = '$libs_before' ] && [ \$(ldconfig -p | grep -c 'libcuda.so.1 ') = 1 ] \
        && [ -z \"\$0\" ] && grep -qx '# a local edit' /etc/modprobe.d/vgpu.conf && [ \"\$(node)\" = 'root:vgpu 660' ]" "$verify"
out=$(as_svc /opt/vgpu-test/nvml-probe 2>&1); rc=$?
check deb-upgrade-service "exit $rc: $(echo "$out" | grep -m1 DISCOVERED)" \
    bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q '^DISCOVERED 1$'" "$out"

# 4. Remove: module unloaded, libraries and programs gone, config kept.
dpkg -r "${guest_pkgs[@]}" </dev/null >/tmp/deb-remove.log 2>&1
rc=$?
check deb-remove "exit $rc: $(status "${guest_pkgs[@]}") libs: '$(lib_files)'; kept: $(echo /etc/modprobe.d/vgpu*.conf)" \
    bash -c "[ $rc = 0 ] && [ -z \"\$(lib_files)\" ] && ! ldconfig -p | grep -q libcuda && [ ! -e /usr/bin/vgpu-smi ] \
        && ! grep -q '^vgpu ' /proc/modules && [ ! -e /lib/modules/$kver/updates/vgpu.ko ] \
        && grep -qx '# a local edit' /etc/modprobe.d/vgpu.conf && [ -f /etc/modprobe.d/vgpu-group.conf ] && getent group vgpu >/dev/null \
        && [ \"\$(dpkg-query -W -f='\${db:Status-Abbrev}' vgpu-driver)\" = 'rc ' ]"
[ $rc = 0 ] || oneline </tmp/deb-remove.log

# 5. Purge: the root as it was before the install.
dpkg -P "${guest_pkgs[@]}" </dev/null >/tmp/deb-purge.log 2>&1
rc=$?
left=$(diff <(echo "$before") <(fingerprint) | grep '^[<>]' | oneline)
check deb-purge "exit $rc: ${left:-nothing left}; known: '$(dpkg-query -W 'vgpu*' 2>/dev/null | oneline)'" \
    bash -c "[ $rc = 0 ] && [ -z \"\$0\" ] && ! getent group vgpu >/dev/null && [ -z \"\$(dpkg-query -W 'vgpu*' 2>/dev/null)\" ]" "$left"
[ $rc = 0 ] || oneline </tmp/deb-purge.log

# 6. The host package: unit, user, config; `vgpu-host check` as its user.
premake_dirs "$(deb "$debs" vgpu-host)"
dpkg -i "$(deb "$debs" vgpu-host)" </dev/null >/tmp/deb-host.log 2>&1
rc=$?
user=$(getent passwd vgpu)
check deb-host-install "exit $rc: $(status vgpu-host) user: $user" \
    bash -c "[ $rc = 0 ] && [ -x /usr/bin/vgpu-host ] && [ -f /lib/systemd/system/vgpu-host@.service ] \
        && [ -f /etc/vgpu/example.toml ] && [ -x /etc/libvirt/hooks/qemu.d/vgpu ] \
        && echo \"\$0\" | grep -q '^vgpu:x:[0-9]*:[0-9]*:vgpu device model:/nonexistent:/usr/sbin/nologin$' \
        && [ \$(id -u vgpu) -lt 1000 ] && [ \"\$(id -gn vgpu)\" = vgpu ]" "$user"
[ $rc = 0 ] || oneline </tmp/deb-host.log
# The simulator configuration of docs/install.md; /run/vgpu/demo is the
# unit's RuntimeDirectory (made here: no systemd runs in this guest).
sed -e 's|/run/vgpu/VM|/run/vgpu/demo|' -e 's|^executor = "cuda"|executor = "sim"|' \
    /etc/vgpu/example.toml >/etc/vgpu/demo.toml
install -d -o vgpu -g vgpu -m 0750 /run/vgpu/demo
out=$(setpriv --reuid vgpu --regid vgpu --init-groups env -i /usr/bin/vgpu-host check --vm demo 2>&1); rc=$?
check deb-host-check "exit $rc: $(echo "$out" | oneline)" \
    bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q '^vgpu-host check: nothing missing'" "$out"
rm -rf /etc/vgpu/demo.toml /run/vgpu
dpkg -r vgpu-host </dev/null >/tmp/deb-host-remove.log 2>&1
rc=$?
check deb-host-remove "exit $rc: $(status vgpu-host) $(ls /etc/vgpu 2>&1 | paste -sd ' ')" \
    bash -c "[ $rc = 0 ] && [ ! -e /usr/bin/vgpu-host ] && [ ! -e /lib/systemd/system/vgpu-host@.service ] \
        && [ -f /etc/vgpu/example.toml ] && getent passwd vgpu >/dev/null"
dpkg -P vgpu-host </dev/null >/tmp/deb-host-purge.log 2>&1
rc=$?
left=$(diff <(echo "$before") <(fingerprint) | grep '^[<>]' | oneline)
check deb-host-purge "exit $rc: ${left:-nothing left}" \
    bash -c "[ $rc = 0 ] && [ -z \"\$0\" ] && ! getent passwd vgpu >/dev/null && ! getent group vgpu >/dev/null" "$left"
[ $rc = 0 ] || oneline </tmp/deb-host-purge.log
userdel vgpu-svc
