#!/usr/bin/env bash
# The GPU suite, for the accelerator machine (which has the NVIDIA driver and
# CUDA but nothing of ours, no compilers for it and no network).
#
#   scripts/gpu-suite.sh pack   (here) builds everything and packs what the
#                               GPU machine needs into target/gpu-pack.tar.xz
#   scripts/gpu-suite.sh run    (there, from the repo root, with the pack
#                               carried) runs, on the real GPU:
#       native  the driver-API suite against NVIDIA's own libcuda.so.1
#       socket  the same suite against our libcuda.so.1 over the direct
#               socket to vgpu-host with the CUDA executor (no VM)
#       vm      vgpu-host (CUDA executor) + QEMU (TCG) + guest kernel with
#               vgpu.ko, the suite inside the guest against our libcuda.so.1
#       trace   (only when VGPU_GPU_PARTS names it) programs under the
#               driver-call tracer, natively and over the socket, and what
#               cuGetProcAddress/cuGetExportTable answered on each side
#               compared (tests/gpu/tracer/README.md)
#   and compares every case's result digest with the native run's.
# With the device tool: run `bash scripts/gpu-suite.sh run` carrying
# target/gpu-pack.tar.xz; the report lands in $OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
pack_file="$repo/target/gpu-pack.tar.xz"

pack() {
    source "$here/vm-env.sh"
    local stage="$repo/target/gpu-pack"
    rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/qemu-lib" "$stage/firmware" "$stage/work/cuda"
    # Only the CUDA and GPU-guest scenarios boot there; their initramfs
    # images are built here, where the tools for it are.
    VGPU_WORK="$stage/work" VGPU_DIST=/var/tmp/vgpu-pack/dist "$VGPU_RUNNER" build-initramfs >/dev/null
    find "$stage/work" -mindepth 1 -maxdepth 1 ! -name cuda ! -name gpu-guest -exec rm -rf {} +
    rm -rf "$stage/work/cuda/root" "$stage/work/gpu-guest/root"
    cp -r "$VGPU_DIST" "$stage/dist"
    cp "$repo/tests/vm/gpu-guest.sh" "$stage/dist/"
    for b in "$VGPU_HOST_BIN" "$VGPU_RUNNER" "$VGPU_CUDA_SUITE" "$VGPU_QEMU"; do
        strip -o "$stage/bin/$(basename "$b")" "$b"
    done
    strip -o "$stage/bin/libcuda.so.1" "$VGPU_LIBCUDA"
    bash "$repo/tests/gpu/tracer/build.sh" "$stage/tracer" >/dev/null && rm -rf "$stage/tracer/"{gen,obj}
    cp "$VGPU_KERNEL" "$stage/bzImage"
    ldd "$VGPU_QEMU" | awk '/=> \// {print $3}' | grep -v -E '/lib(c|m)\.so' | xargs -I{} cp -L {} "$stage/qemu-lib/"
    cp /usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin "$stage/firmware/"
    tar -C "$stage" -cJf "$pack_file" .
    log "packed $(du -h "$pack_file" | cut -f1) into $pack_file"
}

# The trace part: each program of VGPU_TRACE_PROGS ("name=command;...",
# default the tracer's driver test and the static and shared cudart
# samples) under the tracer, against NVIDIA's libcuda.so.1 and against ours
# over the direct socket; compare.sh says where the answers differ.
trace_part() {
    local p=$1 out=$2 t=$1/tracer bad=0 real entry entries name cmd
    real=$(ldconfig -p | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')
    [ -n "$real" ] || { echo "trace: no libcuda.so.1 in ldconfig -p" | tee -a "$out/summary.txt"; return 1; }
    local progs=${VGPU_TRACE_PROGS:-"driver=$t/tracer-test driver;cudart-static=$t/cudart-static;cudart-shared=$t/cudart-shared"}
    rm -f /tmp/vgpu-trace.sock
    VGPU_LOG=${VGPU_LOG:-info} setsid "$p/bin/vgpu-host" --executor cuda --direct-socket /tmp/vgpu-trace.sock \
        2>"$out/host-trace.log" &
    local host=$!
    for _ in $(seq 100); do [ -S /tmp/vgpu-trace.sock ] && break; sleep 0.1; done
    IFS=';' read -ra entries <<<"$progs"
    for entry in "${entries[@]}"; do
        name=${entry%%=*} cmd=${entry#*=}
        rm -f "$out/trace-$name-native.log" "$out/trace-$name-socket.log"
        # shellcheck disable=SC2086 # cmd is a command line
        LD_LIBRARY_PATH=$t:$t/cudart-lib VGPU_TRACE_REAL=$real VGPU_TRACE_OUT=$out/trace-$name-native.log \
            timeout 300 $cmd >"$out/trace-$name-native.txt" 2>&1 || true
        # shellcheck disable=SC2086
        VGPU_SOCKET=/tmp/vgpu-trace.sock LD_LIBRARY_PATH=$t:$t/cudart-lib VGPU_TRACE_REAL=$p/ourlib/libcuda.so.1 \
            VGPU_TRACE_OUT=$out/trace-$name-socket.log timeout 300 $cmd >"$out/trace-$name-socket.txt" 2>&1 || true
        if "$repo/tests/gpu/tracer/compare.sh" -v "$out/trace-$name-native.log" "$out/trace-$name-socket.log" \
            >"$out/trace-$name.cmp" 2>&1; then
            echo "trace $name: cuGetProcAddress and cuGetExportTable answers identical" | tee -a "$out/summary.txt"
        else
            echo "trace $name: $(grep -c '^[-+] [PE] ' "$out/trace-$name.cmp") answers differ (trace-$name.cmp)" |
                tee -a "$out/summary.txt"
            bad=1
        fi
    done
    kill "$host" 2>/dev/null || true
    return $bad
}

# Prints "case digest" pairs of a suite log.
digests() { awk '$1 == "DIGEST" {print $2, $3}' "$1" | sort; }

run() {
    local out=${OUT:-$repo/target/gpu-report}
    mkdir -p "$out"
    [ -f "$pack_file" ] || { echo "no $pack_file: run 'scripts/gpu-suite.sh pack' and carry it" >&2; exit 2; }
    local p=/var/tmp/vgpu-pack   # the initramfs images name this path (the guest masks /tmp)
    rm -rf "$p" && mkdir -p "$p" && tar -C "$p" -xJf "$pack_file"
    mkdir -p "$p/ourlib" && cp "$p/bin/libcuda.so.1" "$p/ourlib/"
    cat >"$p/qemu" <<QEMU
#!/bin/sh
LD_LIBRARY_PATH=$p/qemu-lib exec $p/bin/qemu-system-x86_64 "\$@"
QEMU
    chmod +x "$p/qemu"
    local mib=${VGPU_ROUNDTRIP_MIB:-1024}
    {
        echo "date: $(date -u +%FT%TZ)"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    } >"$out/machine.txt"

    : >"$out/summary.txt"
    # VGPU_GPU_PARTS picks parts (default: all): native,socket,vm,gpu-guest.
    local parts=",${VGPU_GPU_PARTS:-native,socket,vm,gpu-guest},"
    if [[ $parts == *,native,* ]]; then
    echo "== native: NVIDIA's libcuda.so.1" | tee -a "$out/summary.txt"
    # --native skips the two checks where NVIDIA's driver is undefined
    # (a destroyed stream crashes it; it does not check `extra` sizes).
    "$p/bin/cuda-suite" --native --roundtrip-mib "$mib" >"$out/native.txt" 2>&1 || true
    tail -n 1 "$out/native.txt" | tee -a "$out/summary.txt"
    fi
    if [[ $parts == *,socket,* ]]; then

    echo "== socket: our libcuda.so.1 -> vgpu-host (CUDA executor)" | tee -a "$out/summary.txt"
    rm -f /tmp/vgpu-direct.sock
    VGPU_LOG=${VGPU_LOG:-info} setsid "$p/bin/vgpu-host" --executor cuda --direct-socket /tmp/vgpu-direct.sock \
        2>"$out/host-socket.log" &
    local host=$!
    for _ in $(seq 100); do [ -S /tmp/vgpu-direct.sock ] && break; sleep 0.1; done
    VGPU_SOCKET=/tmp/vgpu-direct.sock LD_LIBRARY_PATH="$p/ourlib" \
        "$p/bin/cuda-suite" --roundtrip-mib "$mib" >"$out/socket.txt" 2>&1 || true
    kill "$host" 2>/dev/null || true
    tail -n 1 "$out/socket.txt" | tee -a "$out/summary.txt"
    fi
    if [[ $parts == *,vm,* ]]; then

    echo "== vm: guest (TCG) -> vgpu.ko -> vgpu-host (CUDA executor)" | tee -a "$out/summary.txt"
    VGPU_QEMU="$p/qemu" VGPU_QEMU_DATA="$p/firmware" VGPU_KERNEL="$p/bzImage" \
        VGPU_KERNEL_RELEASE=unused VGPU_KMOD=unused VGPU_BUSYBOX=unused VGPU_GUEST_BIN=unused \
        VGPU_HOST_BIN="$p/bin/vgpu-host" VGPU_LIBCUDA="$p/bin/libcuda.so.1" \
        VGPU_CUDA_SUITE="$p/bin/cuda-suite" VGPU_WORK="$p/work" VGPU_PREBUILT=1 \
        VGPU_EXECUTOR=cuda VGPU_ROUNDTRIP_MIB="$mib" \
        VGPU_REPO="$repo" VGPU_DIST="$p/dist" VGPU_GUEST_TOOLS=unused \
        "$p/bin/vm-runner" test cuda >"$out/vm.txt" 2>&1 || true
    cp "$p/work/cuda/serial.log" "$out/vm-serial.log" 2>/dev/null || true
    tail -n 1 "$out/vm.txt" | tee -a "$out/summary.txt"
    fi

    if [[ $parts == *,gpu-guest,* ]]; then
    echo "== gpu-guest: this machine's nvidia-smi and PyTorch in the guest, on our libraries" | tee -a "$out/summary.txt"
    VGPU_QEMU="$p/qemu" VGPU_QEMU_DATA="$p/firmware" VGPU_KERNEL="$p/bzImage" \
        VGPU_KERNEL_RELEASE=unused VGPU_KMOD=unused VGPU_BUSYBOX=unused VGPU_GUEST_BIN=unused \
        VGPU_HOST_BIN="$p/bin/vgpu-host" VGPU_LIBCUDA="$p/bin/libcuda.so.1" \
        VGPU_CUDA_SUITE="$p/bin/cuda-suite" VGPU_WORK="$p/work" VGPU_PREBUILT=1 \
        VGPU_EXECUTOR=cuda VGPU_REPO="$repo" VGPU_DIST="$p/dist" VGPU_GUEST_TOOLS=unused \
        "$p/bin/vm-runner" test gpu-guest >"$out/gpu-guest.txt" 2>&1 || true
    grep -E '^(PASS|FAIL)' "$out/gpu-guest.txt" | tee -a "$out/summary.txt"
    cp "$p/work/gpu-guest/serial.log" "$out/gpu-guest-serial.log" 2>/dev/null || true
    grep -q '^FAIL' "$out/gpu-guest.txt" && bad_guest=1
    fi
    if [[ $parts == *,trace,* ]]; then
    echo "== trace: programs under the driver-call tracer, NVIDIA's libcuda vs ours" | tee -a "$out/summary.txt"
    trace_part "$p" "$out" || bad_trace=1
    fi
    [[ $parts == *,native,* ]] || return $((${bad_guest:-0} | ${bad_trace:-0}))

    echo "== digests against native" | tee -a "$out/summary.txt"
    local bad=0 n
    n=$(digests "$out/native.txt" | wc -l)
    [ "$n" -ge 8 ] || { echo "native run produced only $n digests" | tee -a "$out/summary.txt"; bad=1; }
    for run in socket vm-serial.log; do
        local f="$out/$run"; [ -f "$f" ] || f="$out/$run.txt"
        # Every case the native run has must have the identical digest.
        local missing
        missing=$(comm -23 <(digests "$out/native.txt") <(sed -e 's/^@@//' "$f" | digests /dev/stdin))
        if [ -z "$missing" ]; then
            echo "$run: all $n native digests identical" | tee -a "$out/summary.txt"
        else
            echo "$run: differs from native in: $missing" | tee -a "$out/summary.txt"
            bad=1
        fi
    done
    return $((bad | ${bad_trace:-0}))
}

case "${1:-}" in
    pack) pack ;;
    run) run ;;
    *) echo "usage: $0 pack|run" >&2; exit 2 ;;
esac
