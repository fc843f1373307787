#!/usr/bin/env bash
# GPU-machine guest checks, run by the VM test bed inside the guest in a
# chroot of the GPU machine's own userspace (9p root + overlay): install our
# libraries over NVIDIA's (as a guest has no NVIDIA driver, only ours), then
# run that machine's nvidia-smi and PyTorch against them.
# Then, when the dist holds them (scripts/gpu-suite.sh puts them there), the
# cuBLAS check built on that machine and the PyTorch check: their CASE and
# DIGEST lines become @@RESULT/@@DIGEST lines named cublas/<case> and
# torch/<case>, which the suite compares with the native run. A boot of the
# suite's llama-guest part runs only llama.cpp's checks ($dist/guest-checks).
# Usage: gpu-guest.sh DIST
set -uo pipefail
dist=$1
# systemd's tools refuse to act inside a chroot unless told otherwise.
export SYSTEMD_IGNORE_CHROOT=1
pass() { echo "@@RESULT $1 PASS 0ms $2"; }
fail() { echo "@@RESULT $1 FAIL 0ms $2"; }

/lib/systemd/systemd-udevd --daemon 2>/dev/null || true
# The loopback interface, down in a fresh initramfs boot: llama-server
# listens on 127.0.0.1 (ip from iproute2, else the ioctl from Python).
ip link set lo up 2>/dev/null ||
    python3 -c 'import fcntl, socket, struct
s = socket.socket()
fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", 0x41))' 2>/dev/null ||
    echo "diag| the loopback interface could not be brought up"
echo "diag| lo: flags $(cat /sys/class/net/lo/flags 2>/dev/null), $(ip -brief addr show lo 2>/dev/null | tr -s ' ')"
for _ in $(seq 50); do udevadm control --ping 2>/dev/null && break; sleep 0.1; done
if bash "$dist/install.sh" >/tmp/install.log 2>&1; then
    pass install "$(tail -n 1 /tmp/install.log)"
else
    fail install "$(tr '\n' ' ' </tmp/install.log)"
fi
# NVIDIA's own copies may sit in other library directories: make sure ours
# are the ones the loader resolves.
# ldconfig re-points soname links at the newest versioned file, so replace
# the files themselves (in the overlay; the machine is untouched).
for lib in libcuda.so.1 libnvidia-ml.so.1; do
    for other in $(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF}'); do
        real=$(readlink -f "$other")
        cmp -s "$real" "$dist/$lib" || cp -f "$dist/$lib" "$real"
    done
done
ldconfig
# What the loader and the device look like, for the log.
ls -l /dev/vgpu* 2>&1 | sed 's/^/diag| /'
ldconfig -p | grep -E 'libcuda\.so|libnvidia-ml\.so' | sed 's/^/diag| /'
VGPU_LOG=debug vgpu-smi -L 2>&1 | head -n 5 | sed 's/^/diag vgpu-smi| /'
ldd "$(command -v nvidia-smi)" 2>&1 | grep -i nvidia | sed 's/^/diag ldd| /'
VGPU_LOG=debug nvidia-smi 2>&1 | grep -v ' -> 0$' | tail -n 40 | sed 's/^/diag nvidia-smi| /'

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

# Which groups of checks this boot runs: $dist/guest-checks (the suite
# writes it for a boot of its own, e.g. "llama"), else the default.
checks=$(cat "$dist/guest-checks" 2>/dev/null || echo torch,cublas,bench)
want() { [[ ",$checks," == *",$1,"* ]]; }
echo "diag| checks: $checks"
echo "diag| clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"

# The machine's PyTorch lives in its own virtual environment.
python=python3
[ -x /opt/torch/.venv/bin/python3 ] && python=/opt/torch/.venv/bin/python3
want torch && {
out=$(timeout 480 "$python" -c 'import torch; print("DEVICES", torch.cuda.device_count())' 2>&1); rc=$?
echo "$out" | tail -n 5 | sed 's/^/torch| /'
if echo "$out" | grep -q '^DEVICES 1$'; then
    pass torch-device-count "torch.cuda.device_count() == 1"
else
    fail torch-device-count "exit $rc: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
fi
}

# guest_check NAME TIMEOUT COMMAND...: runs a check program, reports its cases.
guest_check() {
    local name=$1 limit=$2 rc
    shift 2
    PYTHONUNBUFFERED=1 timeout "$limit" "$@" >/tmp/$name.out 2>&1; rc=$?
    sed -n -e "s#^CASE #@@RESULT $name/#p" -e "s#^DIGEST #@@DIGEST $name/#p" /tmp/$name.out
    grep -v -e '^CASE ' -e '^DIGEST ' /tmp/$name.out | tail -n 40 | sed -e "s#^#$name| #"
    if [ $rc = 0 ]; then pass "$name/exit" "exited 0"; else fail "$name/exit" "exit status $rc"; fi
}
if ! want cublas; then
    :
elif [ -x "$dist/cublas-check" ]; then
    guest_check cublas 180 "$dist/cublas-check"
else
    fail cublas/exit "no cublas-check in $dist (it is built by the suite's cublas step)"
fi
if ! want torch; then
    :
elif [ -f "$dist/torch-check.py" ]; then
    guest_check torch 300 "$python" "$dist/torch-check.py"
else
    fail torch/exit "no torch-check.py in $dist"
fi

# Benchmarks, when the dist holds them (scripts/gpu-suite.sh puts gemm-bench
# there always, torch-bench.py with a bench part named): BENCH lines become
# @@BENCH lines, their CASE lines @@RESULT bench/<case>.
guest_bench() {
    local name=$1 limit=$2 rc
    shift 2
    PYTHONUNBUFFERED=1 timeout "$limit" "$@" >/tmp/$name.out 2>&1; rc=$?
    sed -n -e 's#^BENCH #@@BENCH #p' -e 's#^CASE #@@RESULT bench/#p' /tmp/$name.out
    grep -v -e '^CASE ' -e '^BENCH ' /tmp/$name.out | tail -n 20 | sed -e "s#^#$name| #"
    [ $rc = 0 ] || fail "bench/$name-exit" "exit status $rc"
}
# Groups gemm-bench and torch-bench are each half of bench.
if { want bench || want gemm-bench; } && [ -x "$dist/gemm-bench" ]; then
    guest_bench gemm-bench 240 "$dist/gemm-bench"
fi
if { want bench || want torch-bench; } && [ -f "$dist/torch-bench.py" ]; then
    guest_bench torch-bench 480 "$python" "$dist/torch-bench.py"
fi
# Where a GEMM's time goes in the guest: gemm-bench with our library's
# profile (vgpu_transport::profile), every profile line as "profile| ".
if want profile && [ -x "$dist/gemm-bench" ]; then
    VGPU_LOG=vgpu::profile=info timeout 240 "$dist/gemm-bench" >/tmp/profile.out 2>&1; rc=$?
    grep -e '^BENCH ' -e '^vgpu profile:' /tmp/profile.out | head -n 300 | sed 's/^/profile| /'
    [ $rc = 0 ] && pass profile/exit "exited 0" || fail profile/exit "exit status $rc"
fi

# llama.cpp as Ollama runs it (issue 11): the binaries and model the suite's
# llama part built and made natively on this machine ($dist/llama-work), the
# checks of tests/gpu/llama/part.sh ($dist/llama-part.sh) with discovery and
# two servers at once run as a service user in group vgpu with only what
# its unit would set. Lines: @@RESULT/@@DIGEST llama/<name>, @@BENCH.
if want llama; then
    llama_work=$(cat "$dist/llama-work" 2>/dev/null)
    if [ ! -x "$llama_work/build/bin/llama-server" ] || [ ! -f "$dist/llama-part.sh" ]; then
        fail llama/exit "no llama.cpp build in '$llama_work' or no $dist/llama-part.sh (the suite's llama part makes them)"
    else
        # shellcheck source=../gpu/llama/part.sh
        source "$dist/llama-part.sh"
        getent passwd ollama >/dev/null ||
            useradd --system --no-create-home --home-dir /usr/share/ollama --shell /bin/false -G vgpu ollama
        if command -v setpriv >/dev/null; then
            llama_as=(setpriv --reuid=ollama --regid=ollama --init-groups)
        else
            llama_as=(runuser -u ollama --)
        fi
        # shellcheck disable=SC2034 # read by llama-part.sh's functions
        llama_unit_env=(USER=ollama LOGNAME=ollama SHELL=/bin/false LANG=C.UTF-8)
        echo "diag llama| as: ${llama_as[*]}; $(id ollama)"
        # shellcheck disable=SC2034 # read by llama-part.sh's functions
        llama_timeout=$(cat "$dist/llama-timeout" 2>/dev/null || echo 420)
        # shellcheck disable=SC2034 # read by llama-part.sh's functions
        llama_bench_reps=3 llama_servers=2 llama_check_smi=1
        # shellcheck disable=SC2034,SC2154 # read by (and llama_all_cases from) llama-part.sh
        llama_cases=$(cat "$dist/llama-cases" 2>/dev/null || echo "$llama_all_cases")
        # shellcheck disable=SC2034 # read by llama-part.sh's functions
        llama_progress=1
        # shellcheck disable=SC2034 # read by llama-part.sh's functions
        [ -x "$dist/vgpu-guest" ] && llama_sampler=$dist/vgpu-guest
        llama_side /tmp/llama-guest.txt
        for f in /tmp/llama-guest-*.err /tmp/llama-guest-smi.out; do
            [ -f "$f" ] && tail -n 12 "$f" | sed -e "s#^#llama $(basename "$f")| #"
        done
        pass llama/exit "ran"
    fi
fi
