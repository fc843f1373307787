#!/usr/bin/env bash
# CI for libvirt (docs/install.md, "libvirt"): Debian's libvirtd with our
# QEMU under TCG. vgpu-host is installed as scripts/install-host.sh installs
# it, with libvirt's hook (host/libvirt/qemu-hook.sh); `virsh define` and
# `virsh start` boot the test bed's guest (vm-runner's `libvirt` scenario),
# whose vgpu.ko must bind the device and report through the serial log;
# `virsh destroy` must leave no vgpu-host behind.
#
# The daemon is the system one (qemu:///system, QEMU as user libvirt-qemu,
# vgpu-host as user vgpu), started by hand: CI runs in a container without
# systemd. It runs in a mount namespace of its own where /etc/libvirt,
# /etc/vgpu and libvirt's and vgpu's state directories are the test's, so
# the machine's are not touched; what it needs outside that are the two
# system users (created if missing, as libvirt-daemon-system and
# install-host.sh would). Skips, saying why, where libvirt is not installed.
# Usage: scripts/test-libvirt.sh (as root; the VM test bed's environment,
# scripts/vm-env.sh, is sourced when not already there).
if [ -z "${VGPU_RUNNER:-}" ]; then
    source "$(dirname "$0")/vm-env.sh"
else
    source "$(dirname "$0")/common.sh"
fi
cd "$REPO_ROOT" || exit 1

skip() { log "libvirt test skipped: $*"; exit 0; }
for tool in libvirtd virsh unshare setpriv; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/setup-deps.sh installs libvirt-daemon, libvirt-clients)"
done
# The system libvirtd, its users and a mount namespace need root.
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "test-libvirt.sh: run as root (or with sudo installed)"
    exec sudo --preserve-env "$0" "$@"
fi
unshare --mount true 2>/dev/null || skip "cannot make a mount namespace here (unshare --mount)"

vm=vgpu-libvirt-test
work=$(mktemp -d /tmp/vgpu-libvirt.XXXXXX)
chmod 0755 "$work" # QEMU (libvirt-qemu) and vgpu-host (vgpu) read their files here.
ns=$work/ns        # the namespace's private directories, by their path
made_dirs=()       # mount points this test created on the machine
daemon_pid=

cleanup() {
    local rc=$?
    set +e # clean up what can be, whatever fails
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        virsh_ destroy "$vm" >/dev/null 2>&1
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    # Whatever the hook or libvirt left running, by the pids they recorded.
    for f in "$ns/run/vgpu/$vm/vgpu-host.pid" "$ns/run/libvirt/qemu/$vm.pid"; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
    done
    for d in "${made_dirs[@]}"; do rmdir "$d" 2>/dev/null; done
    if [ $rc = 0 ]; then rm -rf "$work"; else log "libvirt test: files kept in $work"; fi
}
trap cleanup EXIT

# Whether process $1 runs (exists, no zombie: a container's init may be
# slow to reap), and as which user; from /proc, as procps may be missing.
running() {
    local state
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}
user_of() { stat -c %U "/proc/$1"; }
# Processes whose command line contains $1.
pids_with() {
    local f
    for f in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$1" && basename "$(dirname "$f")"
    done
    return 0
}

virsh_() { virsh -q -c "qemu:///system?socket=$ns/run/libvirt/libvirt-sock" "$@"; }

# The guest: the test bed's kernel and the libvirt scenario's initramfs,
# with our QEMU, where QEMU's user can read them.
image=$("$VGPU_RUNNER" image libvirt)
mkdir -p "$work/img"
cp "$VGPU_KERNEL" "$work/img/bzImage"
cp "$image/initramfs.cpio" "$work/img/initramfs.cpio"
cp "$VGPU_QEMU" "$work/img/qemu-system-x86_64"

# The users of a libvirt host with vgpu: QEMU's (libvirt-daemon-system
# creates it), vgpu-host's (install-host.sh creates it), and QEMU's user in
# group vgpu to reach the socket (docs/install.md).
getent passwd libvirt-qemu >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /var/lib/libvirt --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
getent passwd vgpu >/dev/null || useradd --system --user-group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin --comment "vgpu device model" vgpu
id -nG libvirt-qemu | grep -qw vgpu || usermod -aG vgpu libvirt-qemu
# libvirt-daemon-system puts QEMU's user in group kvm too. Where /dev/kvm
# exists but QEMU's user cannot open it, libvirt finds its probe of QEMU's
# capabilities stale at every look-up and probes again (40 s per define).
if getent group kvm >/dev/null && ! id -nG libvirt-qemu | grep -qw kvm; then
    usermod -aG kvm libvirt-qemu
fi

# vgpu-host, its unit, /etc/vgpu and the libvirt hook, as install-host.sh
# installs them (into the test's root), and the VM's configuration: the
# example's, with the simulator giving the scenario's GPU.
root=$work/root
"$REPO_ROOT/scripts/install-host.sh" "$VGPU_HOST_BIN" --destdir "$root"
[ -x "$root/etc/libvirt/hooks/qemu.d/vgpu" ] || die "install-host.sh did not install the libvirt hook"
# QEMU runs as libvirt-qemu: the socket's owner (docs/install.md).
sed -e "s|/run/vgpu/VM/|/run/vgpu/$vm/|" -e 's|^executor = "cuda"|executor = "sim"|' \
    -e 's|^#socket_owner = |socket_owner = |' \
    host/systemd/example.toml >"$root/etc/vgpu/$vm.toml"
grep -q '^socket_owner = "libvirt-qemu"' "$root/etc/vgpu/$vm.toml" || die "example.toml has no socket_owner line"
cat "$image/gpu0.toml" >>"$root/etc/vgpu/$vm.toml"
cp /etc/libvirt/libvirt.conf "$root/etc/libvirt/" 2>/dev/null || true
# A container: no virtlogd (QEMU's output goes to a file), no private /dev
# or cgroups for QEMU.
cat >"$root/etc/libvirt/qemu.conf" <<'CONF'
stdio_handler = "file"
namespaces = [ ]
cgroup_controllers = [ ]
remember_owner = 0
CONF

# The daemon, in its own mount namespace, with install-host.sh's /usr/bin
# first in PATH (the hook finds vgpu-host there, as it would in /usr/bin).
bind=(/etc/libvirt:"$root/etc/libvirt" /etc/vgpu:"$root/etc/vgpu")
for d in /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /run/libvirt /run/vgpu; do
    mkdir -p "$ns$d"
    bind+=("$d:$ns$d")
done
mounts=
for b in "${bind[@]}"; do
    target=${b%%:*}
    if [ ! -d "$target" ]; then mkdir -p "$target"; made_dirs=("$target" "${made_dirs[@]}"); fi
    mounts+="mount --bind '${b#*:}' '$target' && "
done
mkdir -p "$ns/var/log/libvirt/qemu"
log "libvirt: starting libvirtd $(libvirtd --version | awk '{print $NF}') (qemu:///system, in a private mount namespace)"
PATH="$root/usr/bin:$PATH" unshare --mount --propagation private -- \
    sh -c "${mounts}exec libvirtd --pid-file /run/libvirt/libvirtd.pid" >"$work/libvirtd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    virsh_ list --all >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/libvirtd.log" >&2; die "libvirtd exited"; }
    sleep 0.2
done
virsh_ list --all >/dev/null || { cat "$work/libvirtd.log" >&2; die "libvirtd did not answer"; }
log "libvirt: libvirtd answers"

# The domain: docs/install.md's memory backing and device, TCG, our QEMU.
serial=$work/serial.log
sed -e "s|@NAME@|$vm|g" -e "s|@MEMORY_MIB@|512|" -e "s|@KERNEL@|$work/img/bzImage|" \
    -e "s|@INITRD@|$work/img/initramfs.cpio|" -e "s|@STAY@|vgpu_stay|" \
    -e "s|@EMULATOR@|$work/img/qemu-system-x86_64|" -e "s|@SERIAL_LOG@|$serial|" \
    tests/libvirt/domain.xml >"$work/$vm.xml"
virsh_ define "$work/$vm.xml" >/dev/null || die "virsh define failed"
virsh_ dumpxml "$vm" >"$work/defined.xml"
# As the service user, as docs/install.md runs it (--vm reads /etc/vgpu,
# which outside the daemon's namespace is the machine's: --config instead).
chmod 0644 "$work/defined.xml"
setpriv --reuid=vgpu --regid=vgpu --init-groups "$root/usr/bin/vgpu-host" check \
    --config "$root/etc/vgpu/$vm.toml" --libvirt-xml "$work/defined.xml" >"$work/check.out" 2>&1 \
    || { cat "$work/check.out" >&2; die "vgpu-host check on the defined domain found something missing"; }
log "libvirt: virsh define: ok; vgpu-host check --libvirt-xml: nothing missing"

t0=$SECONDS
virsh_ start "$vm" >/dev/null || {
    cat "$ns/var/log/libvirt/qemu/$vm.log" "$ns/var/log/libvirt/qemu/$vm-vgpu-host.log" >&2 2>/dev/null
    die "virsh start failed"
}
host_pid=$(cat "$ns/run/vgpu/$vm/vgpu-host.pid")
qemu_pid=$(cat "$ns/run/libvirt/qemu/$vm.pid")
[ "$(user_of "$host_pid")" = vgpu ] || die "vgpu-host (pid $host_pid) is not running as user vgpu"
[ "$(user_of "$qemu_pid")" = libvirt-qemu ] || die "QEMU (pid $qemu_pid) is not running as user libvirt-qemu"
log "libvirt: virsh start: QEMU $qemu_pid (libvirt-qemu), vgpu-host $host_pid (vgpu)"

# The guest reports, then waits (vgpu_stay) to be destroyed.
timeout=${VGPU_LIBVIRT_TIMEOUT_S:-180}
until grep -q '^@@STAYING' "$serial" 2>/dev/null; do
    if [ $((SECONDS - t0)) -gt "$timeout" ] || ! running "$qemu_pid"; then
        cat "$serial" "$ns/var/log/libvirt/qemu/$vm.log" >&2 2>/dev/null
        die "the guest did not finish its checks in ${timeout} s"
    fi
    sleep 0.5
done
failed=0
while read -r name; do
    if grep -q "^@@RESULT $name PASS" "$serial"; then
        log "libvirt: PASS guest $name"
    else
        log "libvirt: FAIL guest $name: $(grep "^@@RESULT $name " "$serial" || echo 'no result')"
        failed=1
    fi
done <"$image/required"
[ $failed = 0 ] || { cat "$serial" >&2; die "the guest's checks failed"; }
log "libvirt: the guest bound /dev/vgpu0 ($((SECONDS - t0)) s after virsh start)"

virsh_ destroy "$vm" >/dev/null || die "virsh destroy failed"
[ "$(virsh_ domstate "$vm")" = "shut off" ] || die "after virsh destroy the domain is $(virsh_ domstate "$vm")"
for _ in $(seq 50); do running "$host_pid" || break; sleep 0.1; done
running "$host_pid" && die "virsh destroy left vgpu-host $host_pid running"
for pid in $(pids_with "vgpu-host --config /etc/vgpu/$vm.toml"); do
    running "$pid" && die "virsh destroy left a vgpu-host for $vm running (pid $pid)"
done
[ ! -e "$ns/run/vgpu/$vm" ] || die "virsh destroy left /run/vgpu/$vm"
log "libvirt: virsh destroy: QEMU and vgpu-host gone, /run/vgpu/$vm removed"
# A vgpu-host that cannot start fails the domain's start with the hook's
# reason, and leaves nothing behind either.
cp "$root/etc/vgpu/$vm.toml" "$work/good.toml"
echo 'no_such_key = 1' >>"$root/etc/vgpu/$vm.toml"
virsh_ start "$vm" >"$work/start-bad.out" 2>&1 && die "virsh start succeeded with a broken vgpu-host configuration"
grep -q "vgpu hook: $vm: vgpu-host exited" "$work/start-bad.out" \
    || die "virsh start with a broken configuration did not give the hook's reason: $(cat "$work/start-bad.out")"
[ "$(virsh_ domstate "$vm")" = "shut off" ] || die "after a failed start the domain is $(virsh_ domstate "$vm")"
[ ! -e "$ns/run/vgpu/$vm" ] || die "a failed start left /run/vgpu/$vm"
cp "$work/good.toml" "$root/etc/vgpu/$vm.toml"
log "libvirt: a vgpu-host that cannot start fails virsh start with the hook's reason, leaving nothing"
virsh_ undefine "$vm" >/dev/null || die "virsh undefine failed"
log "libvirt: ok"
