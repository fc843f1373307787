# The llama part of scripts/gpu-suite.sh (sourced there; uses its start_host,
# stop_host, ours_env, compare, $repo, $summary): llama.cpp with ggml-cuda
# (scripts/llama.sh) on the test model, natively and on ours over the socket.
# Each side writes CASE/DIGEST lines to $out/llama-<side>.txt:
#   llama-logits        vgpu-logits-dump, greedy: the prompt's tokens, each
#                       step's token and SHA-256 of its raw logits
#   llama-completion    llama-completion -no-cnv, fixed seed, temperature 0,
#                       32 tokens: the text (llama-cli is the chat client now;
#                       llama-completion is what `llama-cli -no-cnv` was)
#   llama-server        llama-server answering POST /completion: the text
#   llama-list-devices  `llama-server --list-devices` in a grandchild under
#                       `env -i` (plus, on ours, the two variables a unit
#                       would set): exactly one CUDA device, its name and size
#   llama-bench         llama-bench -p 512 -n 128: BENCH llama_pp512 and
#                       llama_tg128 lines (tok/s), also in $out/llama-bench-<side>.txt
# VGPU_LLAMA_ENV: extra variables for both sides (e.g.
# GGML_CUDA_DISABLE_GRAPHS=1 while capture is not carried).
# shellcheck shell=bash
# shellcheck disable=SC2154 # p, repo, python, summary, ours: gpu-suite.sh's

llama_prompt="The quick brown fox jumps over the lazy dog"

# llama_sha: SHA-256 of stdin, hex.
llama_sha() { sha256sum | cut -d' ' -f1; }

# llama_case LOG NAME RC DETAIL: a CASE line, PASS when RC is 0.
llama_case() {
    local verdict=PASS
    [ "$3" = 0 ] || verdict=FAIL
    echo "CASE $2 $verdict 0ms $4" >>"$1"
}

# llama_side LOG ENV...: every check on one side, with ENV (for env).
llama_side() {
    local log=$1 bin=$llama_work/build/bin model=$llama_work/model.gguf rc raw port pid
    shift
    local run_env=("$@")
    # shellcheck disable=SC2206 # a list of VAR=value words
    run_env+=(${VGPU_LLAMA_ENV:-})
    : >"$log"
    raw=${log%.txt}

    rc=0
    env "${run_env[@]}" timeout 180 "$bin/vgpu-logits-dump" "$model" 32 "$llama_prompt" >"$raw-logits.out" \
        2>"$raw-logits.err" || rc=$?
    llama_case "$log" llama-logits $rc "$(grep -c '^STEP ' "$raw-logits.out") steps; $(tail -n 1 "$raw-logits.err" 2>/dev/null)"
    {
        echo "DIGEST llama-logits/prompt $(grep '^PROMPT ' "$raw-logits.out" | llama_sha)"
        awk '$1 == "STEP" {print "DIGEST llama-logits/step-" $2 " " $4 "-" $6}' "$raw-logits.out"
        echo "DIGEST llama-logits/text $(grep '^TEXT ' "$raw-logits.out" | llama_sha)"
    } >>"$log"

    rc=0
    env "${run_env[@]}" timeout 180 "$bin/llama-completion" -m "$model" -p "$llama_prompt" -n 32 -no-cnv \
        --seed 42 --temp 0 -ngl 99 -c 512 </dev/null >"$raw-completion.out" 2>"$raw-completion.err" || rc=$?
    llama_case "$log" llama-completion $rc "$(wc -c <"$raw-completion.out") bytes of text"
    echo "DIGEST llama-completion/text $(llama_sha <"$raw-completion.out")" >>"$log"

    port=$((18080 + RANDOM % 1000))
    env "${run_env[@]}" "$bin/llama-server" -m "$model" -ngl 99 -c 512 -np 1 --host 127.0.0.1 \
        --port "$port" >"$raw-server.err" 2>&1 &
    pid=$!
    rc=0
    "$python" - "$port" "$llama_prompt" >"$raw-server.out" 2>>"$raw-server.err" <<'PY' || rc=$?
import json, sys, time, urllib.request
port, prompt = sys.argv[1], sys.argv[2]
base = "http://127.0.0.1:%s" % port
for _ in range(240):
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as r:
            if r.status == 200:
                break
    except Exception:
        time.sleep(0.5)
else:
    sys.exit("the server never became healthy")
body = json.dumps({"prompt": prompt, "n_predict": 32, "temperature": 0, "seed": 42,
                   "cache_prompt": False}).encode()
req = urllib.request.Request(base + "/completion", body, {"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=120) as r:
    sys.stdout.write(json.load(r)["content"])
PY
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    llama_case "$log" llama-server $rc "POST /completion: $(wc -c <"$raw-server.out") bytes"
    echo "DIGEST llama-server/completion $(llama_sha <"$raw-server.out")" >>"$log"

    # A grandchild of a shell started with an empty environment (each shell
    # forks: a command follows), as a service starts discovery; over the
    # socket the environment holds ours (VGPU_SOCKET, LD_LIBRARY_PATH).
    rc=0
    # shellcheck disable=SC2016 # the inner shells expand them
    env -i PATH=/usr/bin:/bin HOME=/ "${run_env[@]}" sh -c 'sh -c "$1" "$0"; exit $?' "$bin/llama-server" \
        '"$0" --list-devices; exit $?' >"$raw-list-devices.out" 2>"$raw-list-devices.err" || rc=$?
    local listed
    listed=$(grep -c -E '^  CUDA[0-9]+: ' "$raw-list-devices.out" || true)
    [ "$listed" = 1 ] || [ $rc != 0 ] || rc=1
    llama_case "$log" llama-list-devices $rc "$listed CUDA device(s): $(grep -m1 -E '^  CUDA' "$raw-list-devices.out" | sed 's/^ *//')"
    echo "DIGEST llama-list-devices/device $(grep -E '^  CUDA[0-9]+: ' "$raw-list-devices.out" |
        sed -e 's/, [0-9]* MiB free)//' | llama_sha)" >>"$log"

    rc=0
    env "${run_env[@]}" timeout 300 "$bin/llama-bench" -m "$model" -ngl 99 -p 512 -n 128 -r 5 -o json \
        >"$raw-bench.out" 2>"$raw-bench.err" || rc=$?
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
