# The llama part of scripts/gpu-suite.sh (sourced there; uses its start_host,
# stop_host, ours_env, compare, $repo, $summary): llama.cpp with ggml-cuda
# (scripts/llama.sh) on the test model, natively and on ours over the socket.
# Each side writes CASE/DIGEST lines to $out/llama-<side>.txt:
#   llama-logits        vgpu-logits-dump, greedy: the prompt's tokens, each
#                       step's token and SHA-256 of its raw logits
#   llama-completion    llama-completion -no-cnv, fixed seed, temperature 0,
#                       32 tokens: the text (llama-cli is the chat client now;
#                       llama-completion is what `llama-cli -no-cnv` was)
#   llama-server        llama-server (every layer on the GPU) answering POST
#                       /completion: the text; in the guest two servers at
#                       once as the service user, both with that text
#   llama-servers-nvidia-smi  (guest) nvidia-smi listing each server's
#                       process with its memory while they run
#   llama-list-devices  `llama-server --list-devices` in a grandchild under
#                       `env -i` (plus, on ours, the two variables a unit
#                       would set): exactly one CUDA device, its name and size
#   llama-bench         llama-bench -p 512 -n 128: BENCH llama_pp512 and
#                       llama_tg128 lines (tok/s), also in $out/llama-bench-<side>.txt
# VGPU_LLAMA_ENV: extra variables for both sides (e.g.
# GGML_CUDA_DISABLE_GRAPHS=1 while capture is not carried).
# shellcheck shell=bash
# shellcheck disable=SC2154 # p, repo, python, summary, ours, vm_env: gpu-suite.sh's

llama_prompt="The quick brown fox jumps over the lazy dog"

# Settings a caller may set before llama_side (the guest does): seconds per
# program, llama-bench repetitions, how many llama-servers run at once, the
# command that runs discovery and the servers as a service user (empty: as
# this user, with this environment), what that user's unit sets, and whether
# nvidia-smi must list each server with its memory.
: "${llama_timeout:=180}" "${llama_bench_reps:=5}" "${llama_servers:=1}" "${llama_check_smi:=0}"
declare -p llama_as >/dev/null 2>&1 || llama_as=()
declare -p llama_unit_env >/dev/null 2>&1 || llama_unit_env=()
llama_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# llama_sha: SHA-256 of stdin, hex.
llama_sha() { sha256sum | cut -d' ' -f1; }

# llama_case LOG NAME RC DETAIL: a CASE line, PASS when RC is 0.
llama_case() {
    local verdict=PASS
    [ "$3" = 0 ] || verdict=FAIL
    echo "CASE $2 $verdict 0ms $4" >>"$1"
}

# llama_http PORT health|completion TIMEOUT_S [PID]: waits for the server
# (process PID, when given: its exit ends the wait) to be healthy;
# completion then POSTs the prompt and prints the text.
llama_http() {
    "$python" - "$1" "$2" "$3" "$llama_prompt" "${4:-0}" <<'PY'
import json, os, sys, time, urllib.request
port, mode, limit, prompt, pid = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
base = "http://127.0.0.1:%s" % port
end = time.monotonic() + limit
while True:
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            if r.status == 200:
                break
    except Exception:
        pass
    if pid > 0:
        try:
            state = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "gone"
        if state in ("Z", "X", "gone"):  # an exited child stays a zombie until reaped
            sys.exit("the server on port %s (pid %d) exited before it was healthy" % (port, pid))
    if time.monotonic() > end:
        sys.exit("the server on port %s never became healthy" % port)
    time.sleep(0.5)
if mode == "completion":
    body = json.dumps({"prompt": prompt, "n_predict": 32, "temperature": 0, "seed": 42,
                       "cache_prompt": False}).encode()
    req = urllib.request.Request(base + "/completion", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=limit) as r:
        sys.stdout.write(json.load(r)["content"])
PY
}

# llama_threads PID: where each thread of a server that never became healthy
# is (its name, state, wait channel and, as root, kernel stack), on stdout.
llama_threads() {
    local t
    echo "threads of $1 (never healthy):"
    for t in /proc/"$1"/task/*; do
        [ -d "$t" ] || continue
        echo "  tid ${t##*/} $(cat "$t/comm" 2>/dev/null) $(awk '{print $3}' "$t/stat" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)" \
            "syscall=$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
        sed -e 's#^#      #' "$t/stack" 2>/dev/null | head -n 12
    done
}

# llama_server_case LOG RAW BIN MODEL ENV...: $llama_servers llama-servers
# at once (as $llama_as, with an empty environment plus the unit's when that
# is set), each with every layer on the GPU, each answering POST
# /completion with the same text; with $llama_check_smi, nvidia-smi lists
# each server's process with its memory while they run.
llama_server_case() {
    local log=$1 raw=$2 bin=$3 model=$4 i rc=0 port pids=() ports=() offload detail="" first
    shift 4
    local start=(env "$@")
    [ ${#llama_as[@]} = 0 ] || start=("${llama_as[@]}" env -i PATH="$llama_path" HOME=/ "${llama_unit_env[@]}" "$@")
    for i in $(seq "$llama_servers"); do
        port=$((18080 + 1000 * i + RANDOM % 1000))
        "${start[@]}" "$bin/llama-server" -m "$model" -ngl 99 -c 512 -np 1 --host 127.0.0.1 \
            --port "$port" >"$raw-server$i.err" 2>&1 &
        pids+=($!)
        ports+=("$port")
    done
    # In the guest, each server's log on the console as it goes: a boot that
    # runs out of time still shows how far each server got.
    local tails=()
    if [ -n "${llama_progress:-}" ]; then
        for i in $(seq "$llama_servers"); do
            tail -n +1 -F "$raw-server$i.err" 2>/dev/null | sed -u -e "s#^#diag llama server$i| #" &
            tails+=($!)
        done
    fi
    # The servers load at once, so they wait for health together: one
    # deadline for all of them.
    local waits=()
    for i in $(seq "$llama_servers"); do
        llama_http "${ports[i - 1]}" health "$llama_timeout" "${pids[i - 1]}" 2>>"$raw-server$i.err" &
        waits+=($!)
    done
    for i in $(seq "$llama_servers"); do
        wait "${waits[i - 1]}" || { rc=1; llama_threads "${pids[i - 1]}" >>"$raw-server$i.err"; }
        # "offloaded 5/5 layers to GPU": every layer, or it is not the GPU's run.
        # (llama-server logs it only when verbose; where it does, all of them.)
        offload=$(grep -o -m1 -E 'offloaded [0-9]+/[0-9]+ layers to GPU' "$raw-server$i.err" || echo "offload not logged")
        [ "$offload" = "offload not logged" ] ||
            echo "$offload" | awk '{split($2, a, "/"); exit !(a[1] == a[2] && a[1] > 0)}' || rc=1
        detail+="server $i: $offload; "
    done
    if [ "$llama_check_smi" = 1 ]; then
        local smi_rc=0 line mem
        nvidia-smi >"$raw-smi.out" 2>&1 || smi_rc=$?
        nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits >"$raw-smi-apps.out" 2>&1 ||
            smi_rc=$?
        for i in $(seq "$llama_servers"); do
            line=$(awk -F', *' -v p="${pids[i - 1]}" '$1 == p' "$raw-smi-apps.out")
            mem=${line##*,}
            [ -n "$line" ] && [ "${mem// /}" -gt 0 ] 2>/dev/null || smi_rc=1
        done
        grep -q 'NVIDIA' "$raw-smi.out" || smi_rc=1
        llama_case "$log" llama-servers-nvidia-smi $smi_rc \
            "pids ${pids[*]}: $(tr '\n' ';' <"$raw-smi-apps.out" | cut -c1-160)"
    fi
    local clients=()
    # A server that never became healthy is not asked (it would only wait
    # out the timeout again).
    [ $rc = 0 ] || for i in $(seq "$llama_servers"); do : >"$raw-server$i.out"; done
    for i in $(seq "$llama_servers"); do
        [ $rc = 0 ] || break
        llama_http "${ports[i - 1]}" completion "$llama_timeout" >"$raw-server$i.out" 2>>"$raw-server$i.err" &
        clients+=($!)
    done
    for i in "${clients[@]}"; do wait "$i" || rc=1; done
    first=$(llama_sha <"$raw-server1.out")
    for i in $(seq 2 "$llama_servers"); do
        [ "$(llama_sha <"$raw-server$i.out")" = "$first" ] || { rc=1; detail+="server $i's text differs; "; }
    done
    kill "${pids[@]}" 2>/dev/null || true
    for i in "${pids[@]}"; do wait "$i" 2>/dev/null || true; done
    [ ${#tails[@]} = 0 ] || { kill "${tails[@]}" 2>/dev/null; wait "${tails[@]}" 2>/dev/null; } || true
    llama_case "$log" llama-server $rc "${detail}POST /completion: $(wc -c <"$raw-server1.out") bytes"
    echo "DIGEST llama-server/completion $first" >>"$log"
}

# The checks of one side, each a function of (LOG RAW BIN MODEL ENV...),
# run in this order; $llama_cases picks some (comma-separated names).
llama_all_cases=list-devices,logits,completion,bench,server

llama_logits_case() {
    local log=$1 raw=$2 bin=$3 model=$4 rc=0
    shift 4
    env "$@" timeout "$llama_timeout" "$bin/vgpu-logits-dump" "$model" 32 "$llama_prompt" >"$raw-logits.out" \
        2>"$raw-logits.err" || rc=$?
    llama_case "$log" llama-logits $rc "$(grep -c '^STEP ' "$raw-logits.out") steps; $(tail -n 1 "$raw-logits.err" 2>/dev/null)"
    {
        echo "DIGEST llama-logits/prompt $(grep '^PROMPT ' "$raw-logits.out" | llama_sha)"
        awk '$1 == "STEP" {print "DIGEST llama-logits/step-" $2 " " $4 "-" $6}' "$raw-logits.out"
        echo "DIGEST llama-logits/text $(grep '^TEXT ' "$raw-logits.out" | llama_sha)"
    } >>"$log"
}

llama_completion_case() {
    local log=$1 raw=$2 bin=$3 model=$4 rc=0
    shift 4
    env "$@" timeout "$llama_timeout" "$bin/llama-completion" -m "$model" -p "$llama_prompt" -n 32 -no-cnv \
        --seed 42 --temp 0 -ngl 99 -c 512 </dev/null >"$raw-completion.out" 2>"$raw-completion.err" || rc=$?
    llama_case "$log" llama-completion $rc "$(wc -c <"$raw-completion.out") bytes of text"
    echo "DIGEST llama-completion/text $(llama_sha <"$raw-completion.out")" >>"$log"
}

# A grandchild of a shell started with an empty environment (each shell
# forks: a command follows), as a service starts discovery; over the socket
# the environment holds ours (VGPU_SOCKET, LD_LIBRARY_PATH). In the guest it
# runs as the service user with what its unit sets.
llama_list_devices_case() {
    local log=$1 raw=$2 bin=$3 rc=0 listed
    shift 4
    # shellcheck disable=SC2016 # the inner shells expand them
    "${llama_as[@]}" env -i PATH="$llama_path" HOME=/ \
        "${llama_unit_env[@]}" "$@" sh -c 'sh -c "$1" "$0"; exit $?' "$bin/llama-server" \
        '"$0" --list-devices; exit $?' >"$raw-list-devices.out" 2>"$raw-list-devices.err" || rc=$?
    listed=$(grep -c -E '^  CUDA[0-9]+: ' "$raw-list-devices.out" || true)
    [ "$listed" = 1 ] || [ $rc != 0 ] || rc=1
    llama_case "$log" llama-list-devices $rc "$listed CUDA device(s): $(grep -m1 -E '^  CUDA' "$raw-list-devices.out" | sed 's/^ *//')"
    echo "DIGEST llama-list-devices/device $(grep -E '^  CUDA[0-9]+: ' "$raw-list-devices.out" |
        sed -e 's/, [0-9]* MiB free)//' | llama_sha)" >>"$log"
}

llama_bench_case() {
    local log=$1 raw=$2 bin=$3 model=$4 rc=0
    shift 4
    env "$@" timeout $((llama_timeout + 120)) "$bin/llama-bench" -m "$model" -ngl 99 -p 512 -n 128 \
        -r "$llama_bench_reps" -o json >"$raw-bench.out" 2>"$raw-bench.err" || rc=$?
    "$python" - "$raw-bench.out" >"$raw-bench.txt" <<'PY' || rc=1
import json, sys
for t in json.load(open(sys.argv[1])):
    name = "llama_pp%d" % t["n_prompt"] if t["n_gen"] == 0 else "llama_tg%d" % t["n_gen"]
    print("BENCH %s %.2f tok/s llama-bench, %s, %d layers on the GPU, stddev %.2f"
          % (name, t["avg_ts"], t.get("model_type", "?"), t.get("n_gpu_layers", -1), t.get("stddev_ts", 0)))
PY
    llama_case "$log" llama-bench $rc "$(tr '\n' ';' <"$raw-bench.txt" | cut -c1-200)"
    cat "$raw-bench.txt" >>"$log"
}

# llama_side LOG ENV...: the checks of one side ($llama_cases, default all),
# with ENV (for env) and VGPU_LLAMA_ENV.
llama_side() {
    local log=$1 bin=$llama_work/build/bin model=$llama_work/model.gguf raw c
    shift
    local run_env=("$@")
    # shellcheck disable=SC2206 # a list of VAR=value words
    run_env+=(${VGPU_LLAMA_ENV:-})
    : >"$log"
    raw=${log%.txt}
    local before t0 sampler
    for c in ${llama_all_cases//,/ }; do
        [[ ",${llama_cases:-$llama_all_cases}," == *",$c,"* ]] || continue
        before=$(wc -l <"$log") t0=$SECONDS sampler=
        # In the guest, where the check's processes spend their time
        # (vgpu-guest sample: diag lines every minute and at the end).
        if [ -n "${llama_sampler:-}" ]; then
            rm -f "$raw-$c.sampled"
            "$llama_sampler" sample "$bin" $((llama_timeout + 150)) 500 "$raw-$c.sampled" &
            sampler=$!
        fi
        "llama_${c//-/_}_case" "$log" "$raw" "$bin" "$model" "${run_env[@]}"
        [ -z "$sampler" ] || { touch "$raw-$c.sampled"; wait "$sampler"; }
        # In the guest, each check's lines as soon as it ends (a boot that
        # runs out of time still tells how far it got), and its duration.
        if [ -n "${llama_progress:-}" ]; then
            tail -n +$((before + 1)) "$log" |
                sed -n -e 's#^CASE #@@RESULT llama/#p' -e 's#^DIGEST #@@DIGEST llama/#p' -e 's#^BENCH #@@BENCH #p'
            echo "diag llama| $c took $((SECONDS - t0)) s"
            for f in "$raw-$c".err "$raw-$c"[0-9].err; do
                [ -f "$f" ] && tail -n 8 "$f" | sed -e "s#^#diag llama $(basename "$f")| #"
            done
        fi
    done
}

# llama_only CASES LOG: LOG's lines of the named checks (their CASE, DIGEST
# and BENCH lines), for comparing a side that ran only those.
llama_only() {
    local cases=",$1," line name
    while read -r line; do
        name=$(awk '{print $2}' <<<"$line")
        name=${name%%/*}
        [[ $line == BENCH* ]] && name=llama-bench
        [[ $cases == *",${name#llama-},"* ]] && echo "$line"
    done <"$2"
}

# llama_part OUT: build (or wait for the build), make the model, run both
# sides, compare. 1 if anything failed or differs.
llama_part() {
    local out=$1 rc=0
    llama_work=${VGPU_LLAMA_WORK:-/var/tmp/vgpu-llama}
    VGPU_LLAMA_PACK="$p/llama/llama.cpp-src.tar.xz" bash "$repo/scripts/llama.sh" build "${VGPU_LLAMA_BUILD_WAIT_S:-420}" \
        >"$out/llama-build.txt" 2>&1 || rc=$?
    if [ $rc != 0 ]; then
        echo "llama: not built yet (exit $rc; llama-build.txt): run scripts/llama.sh build, then this part again" |
            tee -a "$summary"
        return 1
    fi
    VGPU_LLAMA_PACK="$p/llama/llama.cpp-src.tar.xz" bash "$repo/scripts/llama.sh" model "$llama_work/model.gguf" \
        >"$out/llama-model.txt" 2>&1 ||
        { echo "llama: the model did not build or differs (llama-model.txt)" | tee -a "$summary"; return 1; }
    llama_side "$out/llama-native.txt"
    echo "llama native: $(count_cases "$out/llama-native.txt")" | tee -a "$summary"
    # For a llama-guest part in a later call on this machine (its own boot
    # may need a call's whole time).
    cp "$out/llama-native.txt" "$llama_work/llama-native.txt"
    start_host "$out/host-llama.log"
    ours_env ""
    llama_side "$out/llama-socket.txt" "${ours[@]}"
    stop_host
    echo "llama socket: $(count_cases "$out/llama-socket.txt")" | tee -a "$summary"
    grep -h '^BENCH ' "$out/llama-native.txt" >"$out/llama-bench-native.txt" || true
    grep -h '^BENCH ' "$out/llama-socket.txt" >"$out/llama-bench-socket.txt" || true
    local name native ours_v
    while read -r _ name native _; do
        ours_v=$(awk -v n="$name" '$2 == n {print $3}' "$out/llama-bench-socket.txt")
        echo "llama bench $name: native $native tok/s, socket ${ours_v:-none} tok/s" | tee -a "$summary"
    done <"$out/llama-bench-native.txt"
    grep -q '^CASE [^ ]* FAIL' "$out/llama-native.txt" && rc=1
    compare "llama" "$out/llama-native.txt" "$out/llama-socket.txt" || rc=1
    return $rc
}

# llama_guest_part OUT: llama_side in the guest (tests/vm/gpu-guest.sh's
# llama group, a boot of the gpu-guest scenario of its own) on the build and
# model the llama part used, compared with that part's native run. Every
# case must pass there, the guest's own (nvidia-smi) included.
llama_guest_part() {
    local out=$1 rc=0 name native guest_v
    llama_work=${VGPU_LLAMA_WORK:-/var/tmp/vgpu-llama}
    # The native run of this call's llama part, else of the last call's on
    # this machine (same build, same model).
    if [ ! -f "$out/llama-native.txt" ]; then
        if [ -f "$llama_work/llama-native.txt" ]; then
            cp "$llama_work/llama-native.txt" "$out/llama-native.txt"
            echo "llama-guest: against the native run of an earlier call on this machine" | tee -a "$summary"
        else
            echo "llama-guest: no native llama run on this machine (run the llama part first)" | tee -a "$summary"
            return 1
        fi
    fi
    grep -h '^BENCH ' "$out/llama-native.txt" >"$out/llama-bench-native.txt" || true
    # VGPU_LLAMA_GUEST_CASES: some of the checks, where all do not fit one
    # boot (under TCG each program start loads cuBLAS anew).
    local cases=${VGPU_LLAMA_GUEST_CASES:-$llama_all_cases}
    cp "$repo/tests/gpu/llama/part.sh" "$p/dist/llama-part.sh"
    cp "$repo/tests/vm/gpu-guest.sh" "$p/dist/gpu-guest.sh"
    echo "$llama_work" >"$p/dist/llama-work"
    echo "$cases" >"$p/dist/llama-cases"
    # VGPU_LLAMA_GUEST_CHECK_S: seconds each program there may take (a
    # server's wait to be healthy; llama-bench gets 120 more).
    echo "${VGPU_LLAMA_GUEST_CHECK_S:-420}" >"$p/dist/llama-timeout"
    echo llama >"$p/dist/guest-checks"
    guest_boot "$out/llama-guest-serial.log" "$out/llama-guest-vm.txt" "${VGPU_LLAMA_GUEST_TIMEOUT_S:-560}" || rc=1
    rm -f "$p/dist/guest-checks" "$p/dist/llama-timeout"
    sed -n -e 's#^@@RESULT llama/#CASE #p' -e 's#^@@DIGEST llama/#DIGEST #p' -e 's#^@@BENCH #BENCH #p' \
        "$out/llama-guest-serial.log" >"$out/llama-guest.txt" 2>/dev/null || true
    grep -E '^(PASS|FAIL)' "$out/llama-guest-vm.txt" | tee -a "$summary"
    echo "llama guest: $(count_cases "$out/llama-guest.txt")" | tee -a "$summary"
    grep '^CASE [^ ]* FAIL' "$out/llama-guest.txt" | tee -a "$summary" | grep -q . && rc=1
    grep -h '^BENCH ' "$out/llama-guest.txt" >"$out/llama-bench-guest.txt" || true
    while read -r _ name native _; do
        guest_v=$(awk -v n="$name" '$2 == n {print $3}' "$out/llama-bench-guest.txt")
        echo "llama bench $name: native $native tok/s, guest ${guest_v:-none} tok/s" | tee -a "$summary"
    done <"$out/llama-bench-native.txt"
    llama_only "$cases" "$out/llama-native.txt" >"$out/llama-native-guest-cases.txt"
    compare "llama" "$out/llama-native-guest-cases.txt" "$out/llama-guest.txt" || rc=1
    return $rc
}
