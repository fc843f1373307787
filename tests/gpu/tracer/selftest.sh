#!/usr/bin/env bash
# The tracer's self-test, on this machine (no GPU). Builds the tracer, then:
#   fake    tracer-test against fake-driver.so: every kind of trampoline
#           passes arguments (registers, stack, floating point) and results
#           through; the log has the expected C, P, E and S lines; 8 threads
#           at once get whole lines and one table copy
#   chain   tracer -> a copy of the tracer -> fake-driver.so: both logs hold
#           the same answers (compare.sh agrees), a doctored one differs
#   ours    tracer-test against our libcuda.so, without and with vgpu-host
#           (sim executor) on a direct socket
#   cudart  the nvcc-built cudart sample (static and shared cudart) against
#           our libcuda on the simulator: cudart's requests are logged
# Exit 1 when a check fails. Logs stay in target/tracer/selftest/.
# VGPU_LIBCUDA and VGPU_HOST_BIN name our library and host (default
# target/release; built when missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=$repo/target/tracer
bash "$here/build.sh" "$out" >/dev/null
logs=$out/selftest
rm -rf "$logs" && mkdir -p "$logs"
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# expect <log> <extended regex> <what>: the log has a line matching.
expect() { if grep -Eq -- "$2" "$1"; then pass "$3"; else fail "$3 (no /$2/ in $1)"; fi; }
T='^[0-9]+ ' # every line starts with the thread id

echo "== fake driver"
fake=$out/fake-driver.so
if LD_LIBRARY_PATH=$out VGPU_TRACE_REAL=$fake VGPU_TRACE_OUT=$logs/fake.log VGPU_TRACE_ENTER=1 \
    VGPU_TRACE_RESULTS=c693336e:1 \
    "$out/tracer-test" fake "$fake" >"$logs/fake.out" 2>&1; then
    pass "tracer-test fake ($(grep -c '^ok' "$logs/fake.out") checks)"
else
    fail "tracer-test fake:"; grep -v '^ok' "$logs/fake.out" || true
fi
f=$logs/fake.log
expect "$f" "${T}I tracer depth=0 pid=[0-9]+ real=$fake names=[0-9]+\$" "header line"
expect "$f" "${T}C cuInit Flags=0 -> 0\$" "typed call with argument and result"
expect "$f" "${T}c cuInit\$" "entry line (VGPU_TRACE_ENTER=1)"
expect "$f" "${T}C cuDeviceGetAttribute pi=0x[0-9a-f]+ attrib=7 dev=0 -> 0 \*pi=70\$" "output value"
expect "$f" "${T}C cuLaunchKernel f=0x1111 gridDimX=2 .* extra=0x4444 -> 0\$" "11 arguments"
expect "$f" "${T}C cuGLMapBufferObjectAsync_v2\$" "untyped call"
expect "$f" "${T}P cuLaunchKernel 12000 2 -> 0 0 cuLaunchKernel_ptsz traced\$" "P answer"
expect "$f" "${T}P cuInternal 12000 0 -> 0 0 \?fake-driver.so\+0x[0-9a-f]+ untraced\$" "P non-export"
expect "$f" "${T}P cuInit 13010 0 -> 1 untouched untouched\$" "P untouched"
expect "$f" "${T}P cuCtxGetDevice 13000 0 -> 0 0 cuCtxGetDevice(_v2)? untraced-aliased\$" "P aliased export"
expect "$f" "${T}I alias: cuCtxGetDevice = cuCtxGetDevice_v2\$" "alias reported"
expect "$f" "${T}P cuNope 12000 0 -> 0 1 NULL\$" "P unknown symbol"
expect "$f" "${T}P cuDriverGetVersion 12000 0 -> 0 - cuDriverGetVersion traced\$" "P v1 entry"
expect "$f" "${T}E 263e88607cd2614392f6bbd5006dfa7e -> 0 size=0x18 copy slots=3\$" "E copied"
expect "$f" "${T}E c693336e1121df11a8c368f355d89593 -> 0 size=- copy slots=4\$" "E CLS"
expect "$f" "${T}E 6bd5fb6c5bf4e74a8987d93912fd9df9 -> 0 size=0x20 inplace slots=4\$" "E in place"
expect "$f" "${T}E 01020300000000000000000000000000 -> 1 size=-\$" "E unknown id"
expect "$f" "${T}S 263e8860 1\$" "S slot of a copy"
expect "$f" "${T}S c693336e 0\$" "S CLS slot 0"
expect "$f" "${T}R c693336e 1 -> 0x2\$" "R: a slot named in VGPU_TRACE_RESULTS logs its result"
if grep -Eq "${T}R c693336e 0 " "$f"; then fail "R line for a slot not named"; else pass "no R line for other slots"; fi
expect "$f" "${T}S 6bd5fb6c 1\$" "S slot patched in place"
if grep -Eq "${T}S d4082055 1\$" "$f"; then fail "INTEGRITY_CHECK[1] traced"; else pass "INTEGRITY_CHECK[1] untraced"; fi
if grep -Evq "${T}[ICcPESXAR] " "$f"; then fail "lines of an unknown form:"; grep -Ev "${T}[ICcPESXAR] " "$f" | head -3; else pass "every line well formed"; fi

if LD_LIBRARY_PATH=$out VGPU_TRACE_REAL=$fake VGPU_TRACE_OUT=$logs/threads.log \
    "$out/tracer-test" threads >"$logs/threads.out" 2>&1; then
    pass "tracer-test threads"
else
    fail "tracer-test threads:"; grep -v '^ok' "$logs/threads.out" || true
fi
n=$(grep -Ec "${T}C cuDeviceGetAttribute pi=0x[0-9a-f]+ attrib=[0-9]+ dev=0 -> 0 \*pi=[0-9]+\$" "$logs/threads.log" || true)
if [ "$n" = 8000 ]; then pass "8000 whole lines from 8 threads"; else fail "$n of 8000 lines whole"; fi
if [ "$(grep -c ' E ' "$logs/threads.log")" = 8 ] &&
    [ "$(awk '$2 == "C" {print $1}' "$logs/threads.log" | sort -u | wc -l)" = 8 ]; then
    pass "8 thread ids, 8 E lines"
else
    fail "thread ids or E lines"
fi

# Timing: durations on the call lines and totals at exit; "summary" keeps
# only the totals.
LD_LIBRARY_PATH=$out VGPU_TRACE_REAL=$fake VGPU_TRACE_OUT=$logs/time.log VGPU_TRACE_TIME=1 \
    "$out/tracer-test" threads >/dev/null 2>&1 || true
expect "$logs/time.log" "${T}C cuDeviceGetAttribute pi=0x[0-9a-f]+ attrib=[0-9]+ dev=0 t=[0-9]+ -> 0 " "VGPU_TRACE_TIME=1: t= on call lines"
expect "$logs/time.log" "${T}T cuDeviceGetAttribute calls=8000 total_us=[0-9]+ mean_ns=[0-9]+\$" "VGPU_TRACE_TIME=1: totals at exit"
LD_LIBRARY_PATH=$out VGPU_TRACE_REAL=$fake VGPU_TRACE_OUT=$logs/time-summary.log VGPU_TRACE_TIME=summary \
    "$out/tracer-test" threads >/dev/null 2>&1 || true
expect "$logs/time-summary.log" "${T}T cuDeviceGetAttribute calls=8000 " "VGPU_TRACE_TIME=summary: totals"
if grep -Eq "${T}C " "$logs/time-summary.log"; then fail "VGPU_TRACE_TIME=summary wrote call lines"; else pass "VGPU_TRACE_TIME=summary: no call lines"; fi

echo "== chain: tracer -> tracer -> fake driver"
mkdir -p "$logs/outer" && cp "$out/libcuda.so.1" "$logs/outer/"
if LD_LIBRARY_PATH=$logs/outer VGPU_TRACE_REAL=$out/libcuda.so.1 VGPU_TRACE_OUT=$logs/outer.log \
    VGPU_TRACE_REAL_1=$fake VGPU_TRACE_OUT_1=$logs/inner.log \
    "$out/tracer-test" fake "$fake" >"$logs/chain.out" 2>&1; then
    pass "tracer-test fake through two tracers"
else
    fail "tracer-test fake through two tracers:"; grep -v '^ok' "$logs/chain.out" || true
fi
expect "$logs/inner.log" "${T}I tracer depth=1 " "inner tracer at depth 1"
expect "$logs/outer.log" "${T}S 263e8860 1\$" "outer traces the inner's copy"
expect "$logs/inner.log" "${T}S 263e8860 1\$" "inner traces the real slot"
if "$here/compare.sh" "$logs/outer.log" "$logs/inner.log" >"$logs/chain.cmp"; then
    pass "compare.sh: outer and inner answers agree"
else
    fail "compare.sh: outer and inner differ:"; cat "$logs/chain.cmp"
fi
sed -e 's/ cuLaunchKernel_ptsz / cuLaunchKernel /' -e 's/ size=0x20 / size=0x68 /' "$logs/inner.log" >"$logs/doctored.log"
if "$here/compare.sh" "$logs/outer.log" "$logs/doctored.log" >"$logs/doctored.cmp"; then
    fail "compare.sh misses a changed answer"
else
    n=$(grep -c '^[-+] ' "$logs/doctored.cmp" || true)
    if [ "$n" = 4 ]; then pass "compare.sh reports the 2 changed answers"; else fail "compare.sh: $n lines"; cat "$logs/doctored.cmp"; fi
fi

echo "== our libcuda"
lib=${VGPU_LIBCUDA:-$repo/target/release/libcuda.so}
hostbin=${VGPU_HOST_BIN:-$repo/target/release/vgpu-host}
if [ ! -f "$lib" ] || [ ! -x "$hostbin" ]; then
    (cd "$repo" && cargo build -q --release -p vgpu-host -p vgpu-userlib)
fi
LD_LIBRARY_PATH=$out VGPU_TRACE_REAL=$lib VGPU_TRACE_OUT=$logs/ours-nohost.log VGPU_SOCKET=$logs/none.sock \
    "$out/tracer-test" driver >"$logs/ours-nohost.out" 2>&1 || fail "tracer-test driver without a host"
f=$logs/ours-nohost.log
expect "$f" "${T}C cuInit Flags=0 -> [1-9][0-9]*\$" "no host: cuInit fails"
expect "$f" "${T}P cuMemAlloc 12000 0 -> 0 0 cuMemAlloc_v2 traced\$" "no host: P answered"
expect "$f" "${T}I real exports the tracer lacks: 0\$" "the tracer has every cu* export of ours"

sock=$logs/host.sock
VGPU_LOG=warn "$hostbin" --executor sim --direct-socket "$sock" 2>"$logs/host.log" &
host=$!
trap 'kill $host 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
LD_LIBRARY_PATH=$out VGPU_TRACE_REAL=$lib VGPU_TRACE_OUT=$logs/ours.log VGPU_SOCKET=$sock \
    "$out/tracer-test" driver >"$logs/ours.out" 2>&1 || fail "tracer-test driver on the simulator"
f=$logs/ours.log
expect "$f" "${T}C cuInit Flags=0 -> 0\$" "sim: cuInit"
expect "$f" "${T}C cuDriverGetVersion driverVersion=0x[0-9a-f]+ -> 0 \*driverVersion=[0-9]+\$" "sim: version"
expect "$f" "${T}P cuLaunchKernel 12000 2 -> 0 0 cuLaunchKernel_ptsz traced\$" "sim: P per-thread stream"
expect "$f" "${T}P cuCtxGetDevice 13000 0 -> 0 0 cuCtxGetDevice_v2 traced\$" "sim: P CUDA 13 ABI"
expect "$f" "${T}P cuMemAlloc 13010 0 -> 1 untouched untouched\$" "sim: P above the driver"
expect "$f" "${T}P cuGetProcAddress 12000 0 -> 0 0 cuGetProcAddress_v2 traced\$" "sim: P itself"
expect "$f" "${T}E 6bd5fb6c5bf4e74a8987d93912fd9df9 -> [0-9]+ " "sim: E CUDART_INTERFACE"
expect "$f" "${T}C cuDeviceGetAttribute pi=0x[0-9a-f]+ attrib=16 dev=0 -> 0 \*pi=[0-9]+\$" "sim: attribute"
expect "$f" "${T}C cuDeviceGetName name=0x[0-9a-f]+ len=128 dev=0 -> 0 \*name=\"[^\"]+\"\$" "sim: name"
expect "$f" "${T}C cuDriverGetVersion .*\$" "sim: call through a cuGetProcAddress pointer"
if [ "$(grep -c ' C cuDriverGetVersion ' "$f")" = 2 ]; then pass "sim: both version calls traced"; else fail "sim: version calls"; fi

echo "== cudart (nvcc) on the simulator"
if [ -x "$out/cudart-static" ]; then
    for kind in static shared; do
        LD_LIBRARY_PATH=$out:$out/cudart-lib VGPU_TRACE_REAL=$lib VGPU_TRACE_OUT=$logs/cudart-$kind.log \
            VGPU_SOCKET=$sock timeout 120 "$out/cudart-$kind" >"$logs/cudart-$kind.out" 2>&1 || true
        f=$logs/cudart-$kind.log
        n=$(grep -c ' P ' "$f" || true)
        if [ "$n" -ge 100 ]; then pass "$kind cudart: $n cuGetProcAddress requests logged"; else fail "$kind cudart: only $n P lines"; fi
        expect "$f" "${T}P cuGetProcAddress 12000 0 -> 0 ([0-9]|null) cuGetProcAddress_v2 traced\$" "$kind cudart: asks for cuGetProcAddress"
        expect "$f" "${T}E [0-9a-f]{32} -> " "$kind cudart: export-table requests logged"
        expect "$f" "${T}C cuInit Flags=0 -> 0\$" "$kind cudart: cuInit through the tracer"
        expect "$logs/cudart-$kind.out" "^PASS " "$kind cudart: the sample passes through the tracer"
    done
    if "$here/compare.sh" "$logs/cudart-static.log" "$logs/cudart-shared.log" >"$logs/cudart.cmp"; then
        echo "     static and shared cudart asked the same"
    else
        echo "     static and shared cudart asked differently: $logs/cudart.cmp"
    fi
else
    echo "     skipped: no nvcc-built samples (build.sh found no nvcc)"
fi
echo "selftest: $fails failure(s); logs in $logs"
[ "$fails" = 0 ]
