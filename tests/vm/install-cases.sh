#!/usr/bin/env bash
# Install cases beyond discovery.sh's (which runs udev), in the same chroot
# of the host's userspace: no udev at all, and vgpu.ko already loaded at
# install time (as on a VM that ran an older version), held open by a
# process or not. After each install: /dev/vgpu0 is group vgpu, mode 0660;
# a member of group vgpu gets a working cuInit; a user outside it gets
# CUDA_ERROR_NO_DEVICE (100) and a message naming the node, its
# permissions and the group to join, in cuInit's log and from vgpu-smi.
# Usage: install-cases.sh DIST TOOLS
# Prints one `@@RESULT name PASS|FAIL detail` line per check.
set -uo pipefail
dist=$1 tools=$2
export SYSTEMD_IGNORE_CHROOT=1
pass() { echo "@@RESULT $1 PASS 0ms $2"; }
fail() { echo "@@RESULT $1 FAIL 0ms $2"; }
check() { local name=$1 detail=$2; shift 2; if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi; }
oneline() { tr '\n' ' ' | cut -c1-400; }

mkdir -p /opt/vgpu-test && cp -r "$tools"/. /opt/vgpu-test/ && chmod -R a+rX /opt/vgpu-test
# What scripts/install-host.sh or the libvirt test leave on the build
# machine (user and group vgpu) is not in this guest's root, which starts
# as a fresh one would.
if getent passwd vgpu >/dev/null; then userdel vgpu 2>/dev/null; fi
if getent group vgpu >/dev/null; then groupdel vgpu; fi
useradd --no-create-home --shell /bin/sh alice
useradd --no-create-home --shell /bin/sh bob
as_alice() { setpriv --reuid alice --regid alice --init-groups env -i "$@"; }
as_bob() { setpriv --reuid bob --regid bob --init-groups env -i "$@"; }
node() { stat -c '%U:%G %a' /dev/vgpu0 2>&1; }
wait_node() { for _ in $(seq 100); do [ -e /dev/vgpu0 ] && return; sleep 0.1; done; }

check no-udevd "no udevd runs in this guest" bash -c '! udevadm control --ping 2>/dev/null'

# install CASE [ARG]: installs, gives alice the group, checks the log line
# that names what install.sh did.
install_case() {
    local case=$1 says=$2
    if bash "$dist/install.sh" >"/tmp/install-$case.log" 2>&1; then
        usermod -aG vgpu alice
        check "$case-install" "$(grep -m1 -e "$says" "/tmp/install-$case.log" || oneline <"/tmp/install-$case.log")" \
            grep -q -e "$says" "/tmp/install-$case.log"
    else
        fail "$case-install" "$(oneline <"/tmp/install-$case.log")"
    fi
    wait_node
}

# access CASE: the node's group and mode, and what alice and bob get.
access() {
    local case=$1 out rc
    check "$case-node" "/dev/vgpu0 is $(node)" test "$(node)" = "root:vgpu 660"
    out=$(as_alice /opt/vgpu-test/nvml-probe 2>&1); rc=$?
    check "$case-member" "exit $rc: $(echo "$out" | oneline)" \
        bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q '^DISCOVERED 1$'" "$out"
    local why='cannot open /dev/vgpu0: Permission denied (os error 13) (owner root, group vgpu, mode 0660); join group vgpu'
    out=$(as_bob VGPU_LOG=warn /opt/vgpu-test/nvml-probe 2>&1); rc=$?
    check "$case-outsider-cuinit" "exit $rc: $(echo "$out" | oneline)" \
        bash -c "[ $rc = 3 ] && echo \"\$0\" | grep -q 'cuInit failed (CUresult 100)' && echo \"\$0\" | grep -qF \"\$1\"" "$out" "$why"
    out=$(as_bob vgpu-smi 2>&1); rc=$?
    check "$case-outsider-smi" "exit $rc: $(echo "$out" | oneline)" \
        bash -c "[ $rc = 9 ] && echo \"\$0\" | grep -qF \"\$1\"" "$out" "$why"
}

# What an older install left: vgpu.ko loaded without our parameters, its
# node root 0600.
load_old() {
    insmod "$dist/vgpu.ko"
    wait_node
    check "$1-before" "before install: /dev/vgpu0 is $(node)" test "$(node)" = "root:root 600"
}

# 1. No udev: the module parameters alone give the node its group and mode.
install_case no-udev "udev is not running"
access no-udev
# The CDI spec of the installed system: its devices and mounts exist here,
# and it is valid against the CDI schema where a Python with jsonschema is
# found (the unit test of cdi.rs checks it against the schema in any case).
schema=$(cd "$(dirname "$0")/../.." && pwd)/nvml-compat/src/bin/vgpu-smi/cdi-schema.json
vgpu-smi cdi generate >/tmp/vgpu-cdi.json 2>/tmp/vgpu-cdi.err
py=/usr/bin/python3
for p in /usr/bin/python3 $(type -ap python3); do
    if [ -x "$p" ] && "$p" -c 'import jsonschema' 2>/dev/null; then py=$p; break; fi
done
out=$("$py" -c '
import json, os, sys
spec = json.load(open(sys.argv[2]))
try:
    import jsonschema
    jsonschema.validate(spec, json.load(open(sys.argv[1])))
    how = "valid against the CDI schema"
except ImportError:
    how = "schema not checked (no jsonschema)"
edits = spec["containerEdits"]
paths = [n["path"] for d in spec["devices"] for n in d["containerEdits"]["deviceNodes"]]
paths += [m["hostPath"] for m in edits["mounts"]]
missing = [p for p in paths if not os.path.exists(p)]
print(spec["kind"], [d["name"] for d in spec["devices"]], "missing:", missing, how)
print("mounts:", [m["containerPath"] for m in edits["mounts"]], "gids:", edits.get("additionalGids"))
' "$schema" /tmp/vgpu-cdi.json 2>&1 | tail -n 3)
check cdi-spec "$(echo "$out" | oneline)" \
    bash -c "echo \"\$0\" | grep -q \"^vgpu.dev/gpu \['0', 'all'\] missing: \[\] \" && echo \"\$0\" | grep -q 'libcuda.so.1'" "$out"

bash /var/lib/vgpu/uninstall.sh >/tmp/uninstall-1.log 2>&1
check no-udev-uninstall "$(oneline </tmp/uninstall-1.log)" bash -c "! grep -q '^vgpu ' /proc/modules"

# 2. Loaded and held open: install keeps the module and fixes the node.
load_old loaded-busy
# A process holding the node open (sleep never reads it; the open is the point).
# shellcheck disable=SC2217
sleep 600 </dev/vgpu0 &
holder=$!
install_case loaded-busy "already loaded and in use (.* open files): kept it"
access loaded-busy
kill "$holder"; wait "$holder" 2>/dev/null
bash /var/lib/vgpu/uninstall.sh >/tmp/uninstall-2.log 2>&1

# 3. Loaded, nobody holds it: install reloads it, with the parameters.
load_old loaded-idle
install_case loaded-idle "no process held a device: reloaded it"
access loaded-idle
bash /var/lib/vgpu/uninstall.sh >/tmp/uninstall-3.log 2>&1
check loaded-idle-uninstall "$(oneline </tmp/uninstall-3.log)" bash -c "! grep -q '^vgpu ' /proc/modules && ! getent group vgpu"
