#!/usr/bin/env bash
# GPU-machine guest checks, run by the VM test bed inside the guest in a
# chroot of the GPU machine's own userspace (9p root + overlay): install our
# libraries over NVIDIA's (as a guest has no NVIDIA driver, only ours), then
# run that machine's nvidia-smi and PyTorch against them.
# Usage: gpu-guest.sh DIST
set -uo pipefail
dist=$1
pass() { echo "@@RESULT $1 PASS 0ms $2"; }
fail() { echo "@@RESULT $1 FAIL 0ms $2"; }

/lib/systemd/systemd-udevd --daemon 2>/dev/null || true
for _ in $(seq 50); do udevadm control --ping 2>/dev/null && break; sleep 0.1; done
if bash "$dist/install.sh" >/tmp/install.log 2>&1; then
    pass install "$(tail -n 1 /tmp/install.log)"
else
    fail install "$(tr '\n' ' ' </tmp/install.log)"
fi
# NVIDIA's own copies may sit in other library directories: make sure ours
# are the ones the loader resolves.
for lib in libcuda.so.1 libnvidia-ml.so.1; do
    for other in $(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF}'); do
        cmp -s "$other" "$dist/$lib" || ln -sf "$dist/$lib" "$other"
    done
done
ldconfig

out=$(nvidia-smi 2>&1); rc=$?
echo "$out" | sed 's/^/nvidia-smi| /'
if [ $rc = 0 ] && echo "$out" | grep -q 'NVIDIA' && ! echo "$out" | grep -qi 'failed\|error'; then
    pass nvidia-smi "the machine's nvidia-smi printed the device table"
else
    fail nvidia-smi "exit $rc: $(echo "$out" | head -n 3 | tr '\n' ' ')"
fi
out=$(nvidia-smi -L 2>&1)
echo "$out" | sed 's/^/nvidia-smi -L| /'
echo "$out" | grep -q '^GPU 0: .*UUID: GPU-' && pass nvidia-smi-list "$out" || fail nvidia-smi-list "$out"

out=$(timeout 480 python3 -c 'import torch; print("DEVICES", torch.cuda.device_count())' 2>&1); rc=$?
echo "$out" | tail -n 5 | sed 's/^/torch| /'
if echo "$out" | grep -q '^DEVICES 1$'; then
    pass torch-device-count "torch.cuda.device_count() == 1"
else
    fail torch-device-count "exit $rc: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
fi
