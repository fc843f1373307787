#!/usr/bin/env bash
# The GPU suite, for the accelerator machine (which has the NVIDIA driver,
# CUDA with nvcc and cuBLAS, PyTorch, nothing of ours and no network).
#
#   scripts/gpu-suite.sh pack   (here) builds everything and packs what the
#                               GPU machine needs into target/gpu-pack.tar.xz
#   scripts/gpu-suite.sh run    (there, from the repo root, with the pack
#                               carried) runs, on the real GPU:
#       native         the driver-API suite against NVIDIA's own libcuda.so.1
#       socket         the same suite against our libcuda.so.1 over the direct
#                      socket to vgpu-host with the CUDA executor (no VM)
#       cudart         the cudart programs (tests/cuda-programs, nvcc 13.0 from
#                      PyPI, static and shared cudart) natively and over the socket
#       vm             vgpu-host (CUDA executor) + QEMU (TCG) + guest kernel with
#                      vgpu.ko: the suite and the cudart programs in the guest
#       gpu-guest      that machine's nvidia-smi and PyTorch in the guest
#                      (VGPU_GPU_GUEST_CHECKS: some of its groups, e.g.
#                      "torch"; default torch,cublas,bench; bench is
#                      gemm-bench and torch-bench, the latter only with a
#                      bench part named; "profile" runs gemm-bench with our
#                      library's profile, see VGPU_BENCH_PROFILE);
#                      VGPU_HOST_EXTRA_ARGS adds options to the vgpu-host of
#                      every VM part (an A/B of a host setting)
#       cublas         tests/gpu/cublas-check.cu, built there with its nvcc and
#                      cuBLAS, natively and over the socket
#       torch          tests/gpu/torch-check.py natively and over the socket
#       isolation      cuda-suite --isolation: one client process's kernel on
#                      another's memory, a core-dump context that faults, a
#                      kernel that never ends; natively (the first only) and
#                      over the socket (the vm part runs it in the guest)
#       load           (only when named) cuda-suite --load, 16 processes x 4
#                      threads of mixed checked work for VGPU_LOAD_SECONDS
#                      (default 300), natively (for VGPU_LOAD_NATIVE_SECONDS,
#                      default the same; 0 skips it, so that the 5-minute run
#                      over the socket fits one call) and over the socket; the
#                      host's RSS and worker count before and after in
#                      load-host.txt
#       quota          (only when named) cuda-suite --quota over the socket to
#                      a vgpu-host with --vm-memory-limit 4 GiB --max-clients 4
#       bench          (only when named) the benchmarks: cuda-suite --bench,
#                      tests/gpu/gemm-bench.cu (built there) and
#                      tests/gpu/torch-bench.py, natively and over the socket;
#                      scripts/bench-report.py turns them into ratios in
#                      $OUT/benchmarks.json and $OUT/benchmarks.md; with
#                      VGPU_BENCH_PROFILE=1, gemm-bench once more over the
#                      socket with our library's profile
#                      ($OUT/profile-socket-gemm.txt)
#       bench-vm       (only when named) cuda-suite --bench in the guest (the
#                      bench scenario), against the same native run; with
#                      gpu-guest named too, the GEMM and PyTorch benchmarks
#                      run in that guest as well
#       llama          (only when named) llama.cpp with ggml-cuda
#                      (scripts/llama.sh, from the pack's source) on a test
#                      GGUF, natively and over the socket: greedy logits
#                      digests, llama-completion and llama-server text,
#                      --list-devices under env -i, llama-bench tok/s
#                      (tests/gpu/llama/part.sh). Its build takes ~5 min:
#                      run `scripts/llama.sh build` first (it returns 3 while
#                      the detached build goes on; call it again)
#       llama-guest    (only when named, after llama in the same run) the
#                      llama part's checks in the guest (TCG) through vgpu.ko
#                      as Ollama runs them: discovery and two llama-servers at
#                      once as a service user in group vgpu with an empty
#                      environment, nvidia-smi listing each server's memory;
#                      compared with the llama part's native run
#       trace          (only when VGPU_GPU_PARTS names it) programs under the
#                      driver-call tracer, natively and over the socket, and what
#                      cuGetProcAddress/cuGetExportTable answered on each side
#                      compared (tests/gpu/tracer/README.md); VGPU_TRACE_ONLY
#                      ("gemm,cublas") picks among the default programs, which
#                      include gemm-bench once for each GEMM; the socket side
#                      runs with VGPU_LOG=$VGPU_TRACE_OURS_LOG (default warn)
#   and compares each run with the native one: every case native passes must
#   pass, and every result digest must be identical.
# With the device tool: run `bash scripts/gpu-suite.sh run` carrying
# target/gpu-pack.tar.xz; the report lands in $OUT. VGPU_GPU_PARTS picks
# parts (comma-separated; default all). With more than 8 files the report
# comes back as $OUT/all.tar.xz beside summary.txt and the benchmark figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
pack_file="$repo/target/gpu-pack.tar.xz"

pack() {
    source "$here/vm-env.sh"
    local stage="$repo/target/gpu-pack"
    rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/qemu-lib" "$stage/firmware" "$stage/work/cuda"
    # Only the CUDA and GPU-guest scenarios boot there; their initramfs
    # images are built here, where the tools for it are (the cuda one holds
    # the cudart programs).
    VGPU_WORK="$stage/work" VGPU_DIST=/var/tmp/vgpu-pack/dist "$VGPU_RUNNER" build-initramfs >/dev/null
    find "$stage/work" -mindepth 1 -maxdepth 1 ! -name cuda ! -name gpu-guest ! -name bench -exec rm -rf {} +
    rm -rf "$stage/work/cuda/root" "$stage/work/gpu-guest/root" "$stage/work/bench/root"
    # The commit packed, for the benchmark report (the GPU machine has no .git).
    { git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown; } | tr -d '\n' >"$stage/commit"
    git -C "$repo" diff --quiet HEAD 2>/dev/null || echo -n "-dirty" >>"$stage/commit"
    cp -r "$VGPU_DIST" "$stage/dist"
    cp "$repo/tests/vm/gpu-guest.sh" "$repo/tests/gpu/torch-check.py" "$stage/dist/"
    # The guest's sampler (gpu-guest.sh's llama checks), for the chroot.
    strip -o "$stage/dist/vgpu-guest" "$VGPU_GUEST_BIN"
    cp -r "$VGPU_CUDA_PROGRAMS" "$stage/cudart" && rm -f "$stage/cudart/.stamp"
    # llama.cpp's source for the llama part (fetched once: it needs the network).
    [ -f "$repo/target/llama/llama.cpp-src.tar.xz" ] || bash "$here/llama.sh" fetch >/dev/null
    mkdir -p "$stage/llama" && cp "$repo/target/llama/llama.cpp-src.tar.xz" "$stage/llama/"
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

# "case digest" pairs of a log (guest lines lose their @@).
digests() { sed -e 's/^@@//' "$1" | awk '$1 == "DIGEST" {print $2, $3}' | sort; }
# Names of the passing cases of a log: CASE lines, and the guest's @@CASE
# and @@RESULT lines.
passes() { sed -e 's/^@@//' "$1" | awk '($1 == "CASE" || $1 == "RESULT") && $3 == "PASS" {print $2}' | sort -u; }
count_cases() {
    echo "$(grep -c -E '^CASE [^ ]+ PASS' "$1") passed, $(grep -c -E '^CASE [^ ]+ FAIL' "$1") failed"
}

# compare LABEL NATIVE-LOG LOG...: each log must pass every case the native
# run passed and have every native digest, identical. 1 if not.
compare() {
    local label=$1 native=$2 f bad=0 n missing differ
    shift 2
    n=$(digests "$native" | wc -l)
    if [ "$n" -lt 1 ]; then
        echo "$label: the native run produced no digests" | tee -a "$summary"
        return 1
    fi
    for f in "$@"; do
        [ -f "$f" ] || { echo "$label: $(basename "$f") is missing" | tee -a "$summary"; bad=1; continue; }
        missing=$(comm -23 <(passes "$native") <(passes "$f") | tr '\n' ' ')
        differ=$(comm -23 <(digests "$native") <(digests "$f") | awk '{print $1}' | tr '\n' ' ')
        if [ -z "$missing$differ" ]; then
            echo "$label: $(basename "$f"): every native case passes, all $n digests identical" | tee -a "$summary"
        else
            echo "$label: $(basename "$f"): not passing: ${missing:-none}; digests missing or different: ${differ:-none}" \
                | tee -a "$summary"
            bad=1
        fi
    done
    return $bad
}

# compare_cases LABEL NATIVE-LOG LOG...: for checks without digests: each log
# passes every case the native run passed, and fails none. 1 if not.
compare_cases() {
    local label=$1 native=$2 f bad=0 missing failing
    shift 2
    for f in "$@"; do
        [ -f "$f" ] || { echo "$label: $(basename "$f") is missing" | tee -a "$summary"; bad=1; continue; }
        missing=$(comm -23 <(passes "$native") <(passes "$f") | tr '\n' ' ')
        failing=$(sed -e 's/^@@//' "$f" | awk '$1 == "CASE" && $3 != "PASS" {print $2}' | tr '\n' ' ')
        if [ -z "$missing$failing" ] && [ "$(passes "$f" | wc -l)" -gt 0 ]; then
            echo "$label: $(basename "$f"): every native case passes, $(passes "$f" | wc -l) passed" | tee -a "$summary"
        else
            echo "$label: $(basename "$f"): native cases not passing: ${missing:-none}; failing: ${failing:-none}" \
                | tee -a "$summary"
            bad=1
        fi
    done
    return $bad
}

# A vgpu-host with the CUDA executor on the direct socket; its log is $1.
start_host() {
    rm -f /tmp/vgpu-direct.sock
    VGPU_LOG=${VGPU_LOG:-info} setsid "$p/bin/vgpu-host" --executor cuda --direct-socket /tmp/vgpu-direct.sock \
        2>"$1" &
    host=$!
    for _ in $(seq 100); do [ -S /tmp/vgpu-direct.sock ] && break; sleep 0.1; done
}
stop_host() { kill "$host" 2>/dev/null || true; wait "$host" 2>/dev/null || true; }

# guest_boot SERIAL_OUT VM_OUT TIMEOUT_S: a boot of the gpu-guest scenario,
# its console copied to SERIAL_OUT as it goes, so that a call cut short
# still brings back how far the guest got; vgpu-host's log beside it
# (SERIAL_OUT with host.log for serial.log).
guest_boot() {
    local serial=$p/work/gpu-guest/serial.log rc=0 follower
    rm -f "$serial"
    tail -n +1 -F "$serial" >"$1" 2>/dev/null &
    follower=$!
    env "${vm_env[@]}" VGPU_BOOT_TIMEOUT_S="$3" "$p/bin/vm-runner" test gpu-guest >"$2" 2>&1 || rc=1
    kill "$follower" 2>/dev/null || true
    wait "$follower" 2>/dev/null || true
    cp "$serial" "$1" 2>/dev/null || true
    # vgpu-host's side of the boot (its last lines: a guest that waits on
    # the device shows there whether the host still had work from it).
    tail -n 2000 "$p/work/gpu-guest/vgpu-host0.log" >"${1%serial.log}host.log" 2>/dev/null || true
    return $rc
}
# host_footprint: "rss=<KiB of vgpu-host> workers=<n> workers_rss=<KiB>".
host_footprint() {
    local rss w n=0 wrss=0
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$host/status" 2>/dev/null || echo 0)
    for w in $(pgrep -P "$host" 2>/dev/null); do
        n=$((n + 1))
        wrss=$((wrss + $(awk '/^VmRSS:/ {print $2}' "/proc/$w/status" 2>/dev/null || echo 0)))
    done
    echo "rss=$rss workers=$n workers_rss=$wrss"
}
# Sets `ours`, the environment (for env) of a run on our library over the
# socket: ours first on the loader's path, then $1, then the machine's.
ours_env() {
    ours=(VGPU_SOCKET=/tmp/vgpu-direct.sock "LD_LIBRARY_PATH=$p/ourlib$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
}

# run_cudart LOG ENV...: every cudart program, its lines renamed
# cudart-<build>/<case> as in the guest (tests/src/cudart.rs). A program
# stopped by its timeout, or not run for the part's time budget, reports
# a failed setup.
run_cudart() {
    local log=$1 prog build rc end=$((SECONDS + 150))
    shift
    : >"$log"
    for prog in "$p"/cudart/*-static "$p"/cudart/*-shared; do
        build=$(basename "$prog")
        if [ $SECONDS -gt $end ]; then
            echo "CASE cudart-$build/setup FAIL 0ms not run: the part's time budget ran out" >>"$log"
            continue
        fi
        rc=0
        env "$@" timeout 30 "$prog" >"$log.one" 2>&1 || rc=$?
        sed -e "s#^CASE #CASE cudart-$build/#" -e "s#^DIGEST #DIGEST cudart-$build/#" "$log.one" >>"$log"
        [ $rc = 0 ] || echo "CASE cudart-$build/exit FAIL 0ms exit status $rc" >>"$log"
    done
    rm -f "$log.one"
}

# The machine's cuBLAS: an include directory with cublas_v2.h and, beside
# it, the libraries (CUDA toolkit, or the nvidia-cublas wheel PyTorch uses).
find_cublas() {
    local root lib roots
    mapfile -t roots < <(dirname "$(dirname "$nvcc")"; echo /usr/local/cuda
        find /opt /usr/local /usr/lib \( -path '*site-packages/nvidia/cu13' -o -path '*site-packages/nvidia/cublas' \) \
            -type d 2>/dev/null)
    for root in "${roots[@]}"; do
        [ -f "$root/include/cublas_v2.h" ] || continue
        for lib in "$root/lib64" "$root/lib" "$root/targets/x86_64-linux/lib"; do
            ls "$lib"/libcublasLt.so* >/dev/null 2>&1 && { echo "$root/include $lib"; return 0; }
        done
    done
    return 1
}

# The trace part: each program of VGPU_TRACE_PROGS ("name=command;...",
# default the tracer's driver test and the static and shared cudart
# samples) under the tracer, against NVIDIA's libcuda.so.1 and against ours
# over the direct socket; compare.sh says where the answers differ.
trace_part() {
    local p=$1 out=$2 t=$1/tracer bad=0 real entry entries name cmd
    real=$(ldconfig -p | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')
    [ -n "$real" ] || { echo "trace: no libcuda.so.1 in ldconfig -p" | tee -a "$out/summary.txt"; return 1; }
    # By default every program of the runtime's "done when": a driver-API
    # sample, static and shared cudart, cuBLAS (built by the cublas step)
    # and PyTorch.
    local default="driver=$t/tracer-test driver;cudart-static=$t/cudart-static;cudart-shared=$t/cudart-shared"
    [ -x "$p/dist/cublas-check" ] && default+=";cublas=$p/dist/cublas-check"
    default+=";torch=$python $repo/tests/gpu/torch-check.py"
    [ -x "$p/bench/gemm-bench" ] && default+=";gemm=$p/bench/gemm-bench --min-time-ms 1"
    if [ -n "${VGPU_TRACE_ONLY:-}" ]; then
        local kept="" e
        IFS=';' read -ra entries <<<"$default"
        for e in "${entries[@]}"; do
            [[ ",$VGPU_TRACE_ONLY," == *",${e%%=*},"* ]] && kept+="${kept:+;}$e"
        done
        default=$kept
    fi
    local progs=${VGPU_TRACE_PROGS:-$default}
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
        VGPU_LOG=${VGPU_TRACE_OURS_LOG:-warn} VGPU_SOCKET=/tmp/vgpu-trace.sock LD_LIBRARY_PATH=$t:$t/cudart-lib \
            VGPU_TRACE_REAL=$p/ourlib/libcuda.so.1 \
            VGPU_TRACE_OUT=$out/trace-$name-socket.log timeout 300 $cmd >"$out/trace-$name-socket.txt" 2>&1 || true
        if "$repo/tests/gpu/tracer/compare.sh" -v "$out/trace-$name-native.log" "$out/trace-$name-socket.log" \
            >"$out/trace-$name.cmp" 2>&1; then
            echo "trace $name: cuGetProcAddress and cuGetExportTable answers identical" | tee -a "$out/summary.txt"
        else
            echo "trace $name: $(grep -c '^[-+] [PE] ' "$out/trace-$name.cmp") answers differ (trace-$name.cmp)" |
                tee -a "$out/summary.txt"
            bad=1
        fi
        # With VGPU_TRACE_TIME (1 or summary): where ours spends the time.
        if [ -n "${VGPU_TRACE_TIME:-}" ]; then
            bash "$repo/tests/gpu/tracer/time-compare.sh" "$out/trace-$name-native.log" "$out/trace-$name-socket.log" 40 \
                >"$out/trace-$name.time" 2>&1 || true
            echo "trace $name: time by call (trace-$name.time):" | tee -a "$out/summary.txt"
            head -n 6 "$out/trace-$name.time" | sed 's/^/    /' | tee -a "$out/summary.txt"
        fi
    done
    kill "$host" 2>/dev/null || true
    return $bad
}

# bench_one LOG LIMIT NAME COMMAND...: one benchmark program, its output
# appended to LOG, run with the environment in the array `bench_env`; a
# non-zero exit (or its timeout) adds a failed CASE line.
bench_one() {
    local log=$1 limit=$2 name=$3 rc=0
    shift 3
    env ${bench_env[@]+"${bench_env[@]}"} PYTHONUNBUFFERED=1 timeout "$limit" "$@" >>"$log" 2>&1 || rc=$?
    [ $rc = 0 ] || echo "CASE $name/exit FAIL 0ms exit status $rc" >>"$log"
}

# bench_all LOG: every benchmark on the host side (cuda-suite --bench with
# VGPU_BENCH_ARGS, the GEMM one with VGPU_BENCH_GEMM_ARGS, the PyTorch one
# with VGPU_BENCH_TORCH_ARGS), with `bench_env`.
bench_all() {
    local log=$1
    : >"$log"
    # shellcheck disable=SC2086 # the arguments are word lists
    bench_one "$log" 300 bench-suite "$p/bin/cuda-suite" --bench ${VGPU_BENCH_ARGS:-}
    if [ -x "$p/bench/gemm-bench" ]; then
        # shellcheck disable=SC2086
        bench_one "$log" 240 bench-gemm "$p/bench/gemm-bench" ${VGPU_BENCH_GEMM_ARGS:-}
    else
        echo "CASE bench-gemm FAIL 0ms gemm-bench was not built" >>"$log"
    fi
    # shellcheck disable=SC2086
    bench_one "$log" 300 bench-torch "$python" "$repo/tests/gpu/torch-bench.py" ${VGPU_BENCH_TORCH_ARGS:-}
}

# bench_part OUT PARTS: the bench parts: natively, over the socket (bench),
# in the guest (bench-vm, and gpu-guest's benchmarks when it ran them),
# then scripts/bench-report.py on all of it. 1 if the report failed.
bench_part() {
    local out=$1 parts=$2 gpu driver
    local args=(--native "$out/bench-native.txt")
    echo "== bench: native (NVIDIA's libcuda.so.1)" | tee -a "$summary"
    bench_env=()
    bench_all "$out/bench-native.txt"
    grep -E '^CASE [^ ]+ (PASS|FAIL)' "$out/bench-native.txt" | cut -c1-160 | tee -a "$summary" || true
    if [[ $parts == *,bench,* ]]; then
        echo "== bench: socket (our libcuda.so.1 -> vgpu-host, CUDA executor)" | tee -a "$summary"
        start_host "$out/host-bench.log"
        ours_env ""
        bench_env=("${ours[@]}")
        bench_all "$out/bench-socket.txt"
        # With VGPU_BENCH_PROFILE: gemm-bench once more with our library's
        # profile (time per export, waits per command) for the same
        # figures in the guest (gpu-guest's "profile" group) to set against.
        if [ -n "${VGPU_BENCH_PROFILE:-}" ] && [ -x "$p/bench/gemm-bench" ]; then
            env "${ours[@]}" VGPU_LOG=vgpu::profile=info timeout 240 "$p/bench/gemm-bench" \
                >"$out/profile-socket-gemm.txt" 2>&1 || true
        fi
        stop_host
        grep -E '^CASE [^ ]+ (PASS|FAIL)' "$out/bench-socket.txt" | cut -c1-160 | tee -a "$summary" || true
        args+=(--socket "$out/bench-socket.txt")
    fi
    if [[ $parts == *,bench-vm,* ]]; then
        echo "== bench: vm (guest, TCG -> vgpu.ko -> vgpu-host, CUDA executor)" | tee -a "$summary"
        env "${vm_env[@]}" VGPU_BOOT_TIMEOUT_S="${VGPU_BENCH_BOOT_TIMEOUT_S:-420}" "$p/bin/vm-runner" test bench \
            >"$out/bench-vm-runner.txt" 2>&1 || true
        cp "$p/work/bench/serial.log" "$out/bench-vm-serial.log" 2>/dev/null || true
        grep -E '^@@(BENCH|RESULT) ' "$out/bench-vm-serial.log" >"$out/bench-vm.txt" 2>/dev/null || true
        tail -n 1 "$out/bench-vm-runner.txt" | tee -a "$summary"
        # The host's profile of the run: the GPU's time in the direct
        # copies, the worker's busy time and its idle time (the guest's).
        grep -h 'queue session ended' "$p"/work/bench/vgpu-host*.log 2>/dev/null \
            | sed 's/\x1b\[[0-9;]*m//g' | tee "$out/bench-vm-host.txt" | cut -c1-400 | tee -a "$summary" || true
        args+=(--vm "$out/bench-vm.txt")
        if [ -f "$out/gpu-guest-serial.log" ] && grep -q '^@@BENCH ' "$out/gpu-guest-serial.log"; then
            grep -E '^@@(BENCH |RESULT bench/)' "$out/gpu-guest-serial.log" >"$out/bench-gpu-guest.txt" || true
            args+=(--vm "$out/bench-gpu-guest.txt")
        fi
    fi
    IFS=, read -r gpu driver _ < <(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
        2>/dev/null | head -n 1 | sed -e 's/, */,/g') || true
    echo "== bench: report ($out/benchmarks.json, $out/benchmarks.md)" | tee -a "$summary"
    python3 "$repo/scripts/bench-report.py" "${args[@]}" --date "$(date -u +%F)" \
        --commit "$(cat "$p/commit" 2>/dev/null || echo unknown)" --gpu "${gpu:-unknown}" --driver "${driver:-unknown}" \
        --accel "${VGPU_ACCEL:-tcg,thread=multi}" \
        --command "VGPU_GPU_PARTS=${VGPU_GPU_PARTS:-} VGPU_BENCH_ARGS=${VGPU_BENCH_ARGS:-} bash scripts/gpu-suite.sh run" \
        --history "$repo/docs/benchmarks.json" --json "$out/benchmarks.json" --markdown "$out/benchmarks.md" \
        2>&1 | tee -a "$summary"
}

run() {
    local out=${OUT:-$repo/target/gpu-report}
    mkdir -p "$out"
    [ -f "$pack_file" ] || { echo "no $pack_file: run 'scripts/gpu-suite.sh pack' and carry it" >&2; exit 2; }
    p=/var/tmp/vgpu-pack   # the initramfs images name this path (the guest masks /tmp)
    rm -rf "$p" && mkdir -p "$p" && tar -C "$p" -xJf "$pack_file"
    mkdir -p "$p/ourlib" && cp "$p/bin/libcuda.so.1" "$p/ourlib/"
    cat >"$p/qemu" <<QEMU
#!/bin/sh
LD_LIBRARY_PATH=$p/qemu-lib exec $p/bin/qemu-system-x86_64 "\$@"
QEMU
    chmod +x "$p/qemu"
    # VGPU_HOST_EXTRA_ARGS: options for every vgpu-host the VM parts start
    # (an A/B of a host setting, e.g. "--queue-poll-max-us 200").
    local host_bin=$p/bin/vgpu-host
    if [ -n "${VGPU_HOST_EXTRA_ARGS:-}" ]; then
        host_bin=$p/vgpu-host-extra
        printf '#!/bin/sh\nexec %s/bin/vgpu-host "$@" %s\n' "$p" "$VGPU_HOST_EXTRA_ARGS" >"$host_bin"
        chmod +x "$host_bin"
    fi
    local mib=${VGPU_ROUNDTRIP_MIB:-1024}
    {
        echo "date: $(date -u +%FT%TZ)"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    } >"$out/machine.txt"
    python=python3
    [ -x /opt/torch/.venv/bin/python3 ] && python=/opt/torch/.venv/bin/python3
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)

    summary="$out/summary.txt"
    : >"$summary"
    local parts=",${VGPU_GPU_PARTS:-native,socket,cudart,isolation,vm,gpu-guest,cublas,torch},"
    local bad=0
    local vm_env=(VGPU_QEMU="$p/qemu" VGPU_QEMU_DATA="$p/firmware" VGPU_KERNEL="$p/bzImage"
        VGPU_KERNEL_RELEASE=unused VGPU_KMOD=unused VGPU_BUSYBOX=unused VGPU_GUEST_BIN=unused
        VGPU_HOST_BIN="$host_bin" VGPU_LIBCUDA="$p/bin/libcuda.so.1"
        VGPU_CUDA_SUITE="$p/bin/cuda-suite" VGPU_CUDA_PROGRAMS="$p/cudart" VGPU_WORK="$p/work"
        VGPU_PREBUILT=1 VGPU_EXECUTOR=cuda VGPU_ROUNDTRIP_MIB="$mib" VGPU_REPO="$repo"
        VGPU_DIST="$p/dist" VGPU_GUEST_TOOLS=unused)

    # cuBLAS's check is built first, with this machine's nvcc and cuBLAS:
    # the cublas step runs it natively and over the socket, the gpu-guest
    # step in the guest (from the dist, which the guest sees). The GEMM
    # benchmark is built the same way for the bench parts.
    local want_cublas=0 benching=0
    [[ $parts == *,cublas,* || $parts == *,gpu-guest,* ]] && want_cublas=1
    # The trace part traces gemm-bench too (the GEMM shapes the check lacks).
    # The gpu-guest part runs it in the guest (its group gemm-bench, part of
    # the default bench).
    [[ $parts == *,bench,* || $parts == *,bench-vm,* || $parts == *,trace,* || $parts == *,gpu-guest,* ]] && benching=1
    if [ $want_cublas = 1 ] || [ $benching = 1 ]; then
        local found inc lib
        rm -f "$p/dist/cublas-check"
        if ! found=$(find_cublas); then
            echo "cublas: no cublas_v2.h with its libraries on this machine" | tee -a "$summary"
            bad=1
        else
            read -r inc lib <<<"$found"
            if [ $want_cublas = 1 ]; then
                "$nvcc" -std=c++17 -O2 -arch=sm_90 -I"$inc" -L"$lib" -l:libcublas.so.13 -l:libcublasLt.so.13 \
                    -Xlinker -rpath="$lib" "$repo/tests/gpu/cublas-check.cu" -o "$p/dist/cublas-check" \
                    >"$out/cublas-build.txt" 2>&1 \
                    || { echo "cublas: did not build (cublas-build.txt)" | tee -a "$summary"; bad=1; }
            fi
            if [ $benching = 1 ]; then
                mkdir -p "$p/bench"
                "$nvcc" -std=c++17 -O2 -arch=sm_90 -I"$inc" -L"$lib" -l:libcublas.so.13 -l:libcublasLt.so.13 \
                    -Xlinker -rpath="$lib" "$repo/tests/gpu/gemm-bench.cu" -o "$p/bench/gemm-bench" \
                    >"$out/gemm-bench-build.txt" 2>&1 \
                    || { echo "bench: gemm-bench did not build (gemm-bench-build.txt)" | tee -a "$summary"; bad=1; }
            fi
        fi
    fi
    # The gpu-guest part runs the benchmarks its dist holds (gpu-guest.sh):
    # the GEMM one always (seconds), PyTorch's (minutes in the guest) only
    # with a bench part named too.
    if [[ $parts == *,gpu-guest,* ]]; then
        [ -x "$p/bench/gemm-bench" ] && cp "$p/bench/gemm-bench" "$p/dist/"
        if [[ $parts == *,bench,* || $parts == *,bench-vm,* ]]; then
            cp "$repo/tests/gpu/torch-bench.py" "$p/dist/"
        fi
    fi

    if [[ $parts == *,native,* ]]; then
        echo "== native: NVIDIA's libcuda.so.1" | tee -a "$summary"
        # --native skips the two checks where NVIDIA's driver is undefined
        # (a destroyed stream crashes it; it does not check `extra` sizes).
        "$p/bin/cuda-suite" --native --roundtrip-mib "$mib" >"$out/native.txt" 2>&1 || true
        tail -n 1 "$out/native.txt" | tee -a "$summary"
    fi
    if [[ $parts == *,socket,* ]]; then
        echo "== socket: our libcuda.so.1 -> vgpu-host (CUDA executor)" | tee -a "$summary"
        start_host "$out/host-socket.log"
        ours_env ""
        env "${ours[@]}" "$p/bin/cuda-suite" --roundtrip-mib "$mib" >"$out/socket.txt" 2>&1 || true
        stop_host
        tail -n 1 "$out/socket.txt" | tee -a "$summary"
    fi
    if [[ $parts == *,cudart,* ]]; then
        echo "== cudart: the cudart programs on NVIDIA's libcuda.so.1, then on ours over the socket" \
            | tee -a "$summary"
        run_cudart "$out/cudart-native.txt" "LD_LIBRARY_PATH=$p/cudart/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        echo "cudart native: $(count_cases "$out/cudart-native.txt")" | tee -a "$summary"
        grep -q '^CASE [^ ]* FAIL' "$out/cudart-native.txt" && bad=1
        start_host "$out/host-cudart.log"
        ours_env ":$p/cudart/lib"
        run_cudart "$out/cudart-socket.txt" "${ours[@]}"
        stop_host
        echo "cudart socket: $(count_cases "$out/cudart-socket.txt")" | tee -a "$summary"
    fi
    if [[ $parts == *,isolation,* ]]; then
        echo "== isolation: client processes against each other, natively and over the socket" | tee -a "$summary"
        timeout 300 "$p/bin/cuda-suite" --isolation --native >"$out/isolation-native.txt" 2>&1 || true
        echo "isolation native: $(tail -n 1 "$out/isolation-native.txt")" | tee -a "$summary"
        start_host "$out/host-isolation.log"
        ours_env ""
        env "${ours[@]}" timeout 300 "$p/bin/cuda-suite" --isolation --hang-timeout-s 120 \
            >"$out/isolation-socket.txt" 2>&1 || true
        stop_host
        echo "isolation socket: $(tail -n 1 "$out/isolation-socket.txt")" | tee -a "$summary"
        grep -q '^CASE [^ ]* FAIL' "$out/isolation-socket.txt" && bad=1
    fi
    if [[ $parts == *,load,* ]]; then
        local load_s=${VGPU_LOAD_SECONDS:-300}
        local native_s=${VGPU_LOAD_NATIVE_SECONDS:-$load_s}
        echo "== load: 16 processes x 4 threads, $native_s s natively, $load_s s over the socket" | tee -a "$summary"
        if [ "$native_s" -gt 0 ]; then
            timeout $((native_s + 400)) "$p/bin/cuda-suite" --load --seconds "$native_s" \
                >"$out/load-native.txt" 2>&1 || true
            echo "load native: $(grep '^CASE' "$out/load-native.txt" | head -n 1)" | tee -a "$summary"
        fi
        start_host "$out/host-load.log"
        ours_env ""
        sleep 1
        echo "before $(host_footprint)" >"$out/load-host.txt"
        env "${ours[@]}" timeout $((load_s + 400)) "$p/bin/cuda-suite" --load --seconds "$load_s" \
            >"$out/load-socket.txt" 2>&1 || true
        sleep 5
        echo "after $(host_footprint)" >>"$out/load-host.txt"
        stop_host
        echo "load socket: $(grep '^CASE' "$out/load-socket.txt" | head -n 1)" | tee -a "$summary"
        tee -a "$summary" <"$out/load-host.txt"
        grep -q '^CASE [^ ]* PASS' "$out/load-socket.txt" || bad=1
    fi
    if [[ $parts == *,quota,* ]]; then
        echo "== quota: vgpu-host (CUDA executor) with a 4 GiB, 4-client quota, over the socket" | tee -a "$summary"
        rm -f /tmp/vgpu-direct.sock
        VGPU_LOG=${VGPU_LOG:-info} setsid "$p/bin/vgpu-host" --executor cuda --direct-socket /tmp/vgpu-direct.sock \
            --vm-memory-limit 4294967296 --max-clients 4 2>"$out/host-quota.log" &
        host=$!
        for _ in $(seq 100); do [ -S /tmp/vgpu-direct.sock ] && break; sleep 0.1; done
        ours_env ""
        env "${ours[@]}" timeout 300 "$p/bin/cuda-suite" --quota --total 4294967296 --clients 4 \
            >"$out/quota-socket.txt" 2>&1 || true
        stop_host
        echo "quota socket: $(tail -n 1 "$out/quota-socket.txt")" | tee -a "$summary"
        grep -q '^CASE [^ ]* FAIL' "$out/quota-socket.txt" && bad=1
    fi
    if [[ $parts == *,vm,* ]]; then
        echo "== vm: guest (TCG) -> vgpu.ko -> vgpu-host (CUDA executor)" | tee -a "$summary"
        env "${vm_env[@]}" VGPU_BOOT_TIMEOUT_S=240 "$p/bin/vm-runner" test cuda >"$out/vm.txt" 2>&1 || true
        cp "$p/work/cuda/serial.log" "$out/vm-serial.log" 2>/dev/null || true
        sed -n -e "s#^@@RESULT isolation/#CASE #p" "$out/vm-serial.log" >"$out/isolation-guest.txt" 2>/dev/null || true
        tail -n 1 "$out/vm.txt" | tee -a "$summary"
    fi
    if [[ $parts == *,gpu-guest,* ]]; then
        echo "== gpu-guest: this machine's nvidia-smi and PyTorch in the guest, on our libraries" | tee -a "$summary"
        # VGPU_GPU_GUEST_CHECKS: some of the guest's groups (torch, cublas,
        # bench; default all), where all do not fit one call under TCG.
        [ -z "${VGPU_GPU_GUEST_CHECKS:-}" ] || echo "$VGPU_GPU_GUEST_CHECKS" >"$p/dist/guest-checks"
        guest_boot "$out/gpu-guest-serial.log" "$out/gpu-guest.txt" "${VGPU_GPU_GUEST_TIMEOUT_S:-480}" || true
        rm -f "$p/dist/guest-checks"
        grep -E '^(PASS|FAIL)' "$out/gpu-guest.txt" | tee -a "$summary"
        # The guest's cuBLAS and PyTorch cases, in the native logs' form.
        for suite in cublas torch; do
            sed -n -e "\\#^@@RESULT $suite/exit #d" -e "s#^@@RESULT $suite/#CASE #p" -e "s#^@@DIGEST $suite/#DIGEST #p" \
                "$out/gpu-guest-serial.log" >"$out/$suite-guest.txt" 2>/dev/null || true
        done
        grep -q '^FAIL' "$out/gpu-guest.txt" && bad=1
    fi
    if [[ $parts == *,cublas,* ]]; then
        echo "== cublas: cuBLAS/cuBLASLt (built here with $nvcc) natively, then on ours over the socket" \
            | tee -a "$summary"
        if [ -x "$p/dist/cublas-check" ]; then
            timeout 120 "$p/dist/cublas-check" >"$out/cublas-native.txt" 2>&1 || true
            echo "cublas native: $(tail -n 1 "$out/cublas-native.txt")" | tee -a "$summary"
            grep -q '^CASE [^ ]* FAIL' "$out/cublas-native.txt" && bad=1
            start_host "$out/host-cublas.log"
            ours_env ""
            env "${ours[@]}" timeout 120 "$p/dist/cublas-check" >"$out/cublas-socket.txt" 2>&1 || true
            stop_host
            echo "cublas socket: $(tail -n 1 "$out/cublas-socket.txt")" | tee -a "$summary"
        else
            bad=1
        fi
    fi
    if [[ $parts == *,torch,* ]]; then
        echo "== torch: PyTorch natively, then on ours over the socket" | tee -a "$summary"
        PYTHONUNBUFFERED=1 timeout 180 "$python" "$repo/tests/gpu/torch-check.py" >"$out/torch-native.txt" 2>&1 || true
        echo "torch native: $(tail -n 1 "$out/torch-native.txt")" | tee -a "$summary"
        grep -q '^CASE [^ ]* FAIL' "$out/torch-native.txt" && bad=1
        start_host "$out/host-torch.log"
        ours_env ""
        env "${ours[@]}" PYTHONUNBUFFERED=1 timeout 180 "$python" "$repo/tests/gpu/torch-check.py" \
            >"$out/torch-socket.txt" 2>&1 || true
        stop_host
        echo "torch socket: $(tail -n 1 "$out/torch-socket.txt")" | tee -a "$summary"
    fi

    if [[ $parts == *,llama,* ]]; then
        echo "== llama: llama.cpp (ggml-cuda) natively, then on ours over the socket" | tee -a "$summary"
        # shellcheck source=SCRIPTDIR/../tests/gpu/llama/part.sh
        source "$repo/tests/gpu/llama/part.sh"
        llama_part "$out" || bad=1
    fi
    if [[ $parts == *,llama-guest,* ]]; then
        echo "== llama-guest: llama.cpp in the guest (TCG) through vgpu.ko, the Ollama-style flow" | tee -a "$summary"
        # shellcheck source=SCRIPTDIR/../tests/gpu/llama/part.sh
        source "$repo/tests/gpu/llama/part.sh"
        llama_guest_part "$out" || bad=1
    fi

    # After cublas: VGPU_TRACE_PROGS may name the cublas-check it built.
    if [[ $parts == *,trace,* ]]; then
        echo "== trace: programs under the driver-call tracer, NVIDIA's libcuda vs ours" | tee -a "$summary"
        trace_part "$p" "$out" || bad=1
    fi

    if [[ $parts == *,bench,* || $parts == *,bench-vm,* ]]; then
        bench_part "$out" "$parts" || bad=1
    fi

    echo "== against native" | tee -a "$summary"
    if [[ $parts == *,native,* ]]; then
        local n
        n=$(digests "$out/native.txt" | wc -l)
        [ "$n" -ge 8 ] || { echo "native run produced only $n digests" | tee -a "$summary"; bad=1; }
        local others=()
        [[ $parts == *,socket,* ]] && others+=("$out/socket.txt")
        [[ $parts == *,vm,* ]] && others+=("$out/vm-serial.log")
        compare "driver-API suite" "$out/native.txt" "${others[@]}" || bad=1
    fi
    if [[ $parts == *,cudart,* ]]; then
        local others=("$out/cudart-socket.txt")
        [[ $parts == *,vm,* ]] && others+=("$out/vm-serial.log")
        compare "cudart programs" "$out/cudart-native.txt" "${others[@]}" || bad=1
    fi
    if [[ $parts == *,isolation,* ]]; then
        local others=("$out/isolation-socket.txt")
        [[ $parts == *,vm,* ]] && others+=("$out/isolation-guest.txt")
        compare_cases "isolation" "$out/isolation-native.txt" "${others[@]}" || bad=1
    fi
    for suite in cublas torch; do
        if [[ $parts == *,$suite,* ]] && [ -f "$out/$suite-native.txt" ]; then
            local others=("$out/$suite-socket.txt")
            [[ $parts == *,gpu-guest,* ]] && others+=("$out/$suite-guest.txt")
            compare "$suite" "$out/$suite-native.txt" "${others[@]}" || bad=1
        fi
    done
    return $((bad | ${bad_trace:-0}))
}

# The device tool brings back at most 8 files from $OUT: with more, all of
# them go into $OUT/all.tar.xz and only the summary and the benchmark
# figures stay beside it.
bundle_out() {
    [ -n "${OUT:-}" ] || return 0
    local out=$OUT
    [ "$(find "$out" -maxdepth 1 -type f | wc -l)" -gt 8 ] || return 0
    tar -C "$out" -cJf /tmp/vgpu-all.tar.xz . && find "$out" -mindepth 1 -maxdepth 1 \
        ! -name summary.txt ! -name benchmarks.json ! -name benchmarks.md -exec rm -rf {} + \
        && mv /tmp/vgpu-all.tar.xz "$out/all.tar.xz"
}

case "${1:-}" in
    pack) pack ;;
    run) rc=0; run || rc=$?; bundle_out; exit $rc ;;
    *) echo "usage: $0 pack|run" >&2; exit 2 ;;
esac
