#!/usr/bin/env bash
# Discovery and installation tests, run by the VM test bed inside the guest
# in a chroot of the host's own userspace (read-only 9p root with a tmpfs
# overlay), so that installing is exactly what a user does on a plain VM.
# Usage: discovery.sh DIST TOOLS UPPER [LOWER]
#   DIST   target/dist (install.sh, uninstall.sh, the libraries, vgpu.ko)
#   TOOLS  directory with nvml-probe and the pynvml package (python/)
#   UPPER  the overlay's upper directory, to check what uninstall leaves
#   LOWER  the overlay's lower directory (the pristine root)
# Prints one `@@RESULT name PASS|FAIL detail` line per check.
set -uo pipefail
dist=$1 tools=$2 upper=$3 lower=${4:-/mnt/vgpu-lower}
# systemd's tools refuse to act inside a chroot unless told otherwise.
export SYSTEMD_IGNORE_CHROOT=1
pass() { echo "@@RESULT $1 PASS 0ms $2"; }
fail() { echo "@@RESULT $1 FAIL 0ms $2"; }
check() { local name=$1 detail=$2; shift 2; if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi; }

# What the merged root holds wherever it differs from the pristine lower
# root: a fingerprint of the system's changes, apart from the test's own
# scratch space. Directories the lower has, and files copied up unchanged,
# are no change.
fingerprint() {
    (cd "$upper" && find . -xdev \( -path ./tmp -o -path ./run -o -path ./opt/vgpu-test -o -path ./root \) -prune -o -print) \
        | sed 's|^\.||' | sort | while read -r p; do
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

# Test tools where unprivileged users can reach them.
mkdir -p /opt/vgpu-test && cp -r "$tools"/. /opt/vgpu-test/ && chmod -R a+rX /opt/vgpu-test
useradd --no-create-home --shell /bin/sh alice
useradd --no-create-home --shell /bin/sh bob
before=$(fingerprint)

# 1. Install as a user would, with udev running to apply our rule.
# The comparisons below use process substitution: make sure it works, so
# that a broken /dev/fd cannot make them pass vacuously.
[ "$(cat <(echo ok))" = ok ] || { fail setup "process substitution does not work (/dev/fd)"; exit 1; }
/lib/systemd/systemd-udevd --daemon >/tmp/udevd.log 2>&1
for _ in $(seq 50); do udevadm control --ping 2>/dev/null && break; sleep 0.1; done
if bash "$dist/install.sh" >/tmp/install.log 2>&1; then
    pass install "$(tail -n 1 /tmp/install.log)"
else
    fail install "$(tr '\n' ' ' </tmp/install.log)"
fi
udevadm settle 2>/dev/null
usermod -aG vgpu alice
for _ in $(seq 50); do [ -e /dev/vgpu0 ] && break; sleep 0.1; done
if [ "$(stat -c '%G %a' /dev/vgpu0 2>/dev/null)" != "vgpu 660" ]; then
    # For the log: what udev made of it.
    { cat /tmp/udevd.log; udevadm control --ping && echo udevd answers; ls -l /etc/udev/rules.d; } 2>&1 | sed 's/^/udev| /'
fi
check node-permissions "/dev/vgpu0 is $(stat -c '%G %a' /dev/vgpu0 2>&1)" \
    test "$(stat -c '%G %a' /dev/vgpu0 2>/dev/null)" = "vgpu 660"
check loader "dlopen finds our libraries by soname: $(ldconfig -p | grep -cE 'libcuda.so.1|libnvidia-ml.so.1') entries" \
    test "$(ldconfig -p | grep -cE 'lib(cuda|nvidia-ml)\.so\.1 ')" -ge 2

as_alice() { setpriv --reuid alice --regid alice --init-groups env -i "$@"; }
as_bob() { setpriv --reuid bob --regid bob --init-groups env -i "$@"; }

# 2. Ollama's case: an unprivileged service user, empty environment, the
#    runner as a child process; CUDA and NVML must agree.
out=$(as_alice /opt/vgpu-test/nvml-probe --spawn-child 2>&1); rc=$?
uuid=$(echo "$out" | awk '$1 == "GPU" {print $3; exit}')
check child-discovery "$(echo "$out" | tr '\n' ' ' | cut -c1-300)" \
    bash -c "[ $rc = 0 ] && echo \"\$0\" | grep -q '^DISCOVERED 1$' && echo \"\$0\" | grep -q '^CHILD (empty environment) exit=0$'" "$out"

# 3. A user outside the group: a clean error, no crash.
out=$(as_bob /opt/vgpu-test/nvml-probe 2>&1); rc=$?
check outside-group "exit $rc: $(echo "$out" | tr '\n' ' ' | cut -c1-200)" \
    bash -c "[ $rc -eq 3 ] && echo \"\$0\" | grep -q '^DISCOVERED 0'" "$out"

# 4. pynvml from PyPI sees the same device.
out=$(as_alice PYTHONPATH=/opt/vgpu-test/python /usr/bin/python3 -c '
import pynvml
pynvml.nvmlInit()
n = pynvml.nvmlDeviceGetCount()
h = pynvml.nvmlDeviceGetHandleByIndex(0)
name, uuid = pynvml.nvmlDeviceGetName(h), pynvml.nvmlDeviceGetUUID(h)
mem = pynvml.nvmlDeviceGetMemoryInfo(h)
print(n, uuid, mem.total, name)
pynvml.nvmlShutdown()' 2>&1)
check pynvml "$out" bash -c "set -- \$0; [ \"\$1\" = 1 ] && [ \"\$2\" = \"$uuid\" ]" "$out"

# 5. vgpu-smi shows it.
out=$(as_alice vgpu-smi -L 2>&1)
check vgpu-smi-list "$out" bash -c "echo \"\$0\" | grep -q \"^GPU 0: .*(UUID: $uuid)\"" "$out"
out=$(as_alice vgpu-smi 2>&1)
check vgpu-smi-table "$(echo "$out" | head -n 12 | tr '\n' '|' | cut -c1-300)" \
    bash -c "echo \"\$0\" | grep -q 'NVIDIA H100'" "$out"

# 6. 32 processes discovering at once.
for i in $(seq 32); do as_alice /opt/vgpu-test/nvml-probe >/tmp/p$i.log 2>&1 & done
wait
ok=$(grep -l '^DISCOVERED 1' /tmp/p*.log | wc -l)
check concurrent-32 "$ok of 32 processes found the GPU" test "$ok" = 32

# 7. Reload the driver, use it again.
modprobe -r vgpu && modprobe vgpu
udevadm settle 2>/dev/null
for _ in $(seq 50); do [ -e /dev/vgpu0 ] && break; sleep 0.1; done
out=$(as_alice /opt/vgpu-test/nvml-probe 2>&1)
check reload "$(echo "$out" | tail -n 1)" bash -c "echo \"\$0\" | grep -q '^DISCOVERED 1'" "$out"

# 8. Uninstall leaves nothing.
bash /var/lib/vgpu/uninstall.sh >/tmp/uninstall.log 2>&1 || true
gpasswd -d alice vgpu >/dev/null 2>&1 || true
after=$(fingerprint)
# Not ours: the loader caches are regenerated by ldconfig, and the account
# tools keep backups (/etc/group- ...) of their last edit.
leftover=$(diff <(echo "$before") <(echo "$after") | grep '^>' \
    | grep -vE '^> (/etc/(ld\.so\.cache|passwd-|group-|shadow-|gshadow-)|/var/cache/ldconfig/aux-cache) ' | tr '\n' ' ')
check uninstall "${leftover:-nothing left: $(tail -n 1 /tmp/uninstall.log)}" test -z "$leftover"
check unloaded "vgpu.ko unloaded" bash -c "! grep -q '^vgpu ' /proc/modules"
check loader-clean "ldconfig no longer lists our libraries" \
    bash -c "! ldconfig -p | grep -qE 'lib(cuda|nvidia-ml)\.so'"
