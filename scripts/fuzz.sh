#!/usr/bin/env bash
# The cargo-fuzz targets of fuzz/ (issue 8, item 7): installs the nightly
# toolchain and cargo-fuzz if missing, builds, runs, prints executions.
#
#   scripts/fuzz.sh build                      build every target; prints the binary dir
#   scripts/fuzz.sh run SECONDS [TARGET...]    build, then fuzz each target SECONDS
#   scripts/fuzz.sh runs COUNT [TARGET...]     build, then COUNT executions per target
#   scripts/fuzz.sh ci                         short run for CI (FUZZ_CI_SECONDS, 20 s each)
#   scripts/fuzz.sh run-prebuilt DIR SECONDS [TARGET...]
#                                              fuzz binaries built elsewhere (copy the
#                                              `build` dir); FUZZ_JOBS in parallel
#   scripts/fuzz.sh runs-prebuilt DIR COUNT [TARGET...]
#                                              the same, COUNT executions per target
#   scripts/fuzz.sh seeds                      rewrite fuzz/corpus/ from fuzz/src/seeds.rs
#
# Settings: FUZZ_JOBS (parallel workers, libFuzzer -fork; default 1),
# FUZZ_RSS_MB (memory limit per worker, default 2048), FUZZ_TIMEOUT (seconds
# per input, default 30), FUZZ_SANITIZER (none|address, default none: the
# host code is safe Rust but for a few audited unsafe blocks, and ASan
# halves the rate). The corpora hold the reproducers of the review's fixed
# findings (corpus/<target>/known-*): every run replays them first.
# New corpus entries go to $FUZZ_WORK/<target>/ (default fuzz/work, not
# committed), logs to $FUZZ_WORK/logs/, crashes to fuzz/artifacts/<target>/.
source "$(dirname "$0")/common.sh"

FUZZ_DIR="$REPO_ROOT/fuzz"
TARGETS=(cuda_exec rings images vfio vfio_framing)
CARGO_FUZZ_VERSION=0.13.2
JOBS=${FUZZ_JOBS:-1}
RSS_MB=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-30}
SANITIZER=${FUZZ_SANITIZER:-none}
WORK=${FUZZ_WORK:-$FUZZ_DIR/work}
TRIPLE=x86_64-unknown-linux-gnu

max_len() {
    case "$1" in
        rings | images) echo 16384 ;;
        cuda_exec) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

install_tools() {
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        log "installing the nightly toolchain"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
        log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
    command -v c++ >/dev/null || die "libFuzzer needs a C++ compiler (scripts/setup-deps.sh installs g++)"
}

bin_dir() { echo "$FUZZ_DIR/target/$TRIPLE/release"; }

build() {
    install_tools
    log "building fuzz targets (sanitizer: $SANITIZER)"
    local t
    for t in "${TARGETS[@]}"; do
        (cd "$FUZZ_DIR" && cargo +nightly fuzz build -O --sanitizer "$SANITIZER" "$t" >&2)
    done
}

# run_one BIN TARGET LIMIT_FLAG: fuzzes one target, prints its figures;
# returns non-zero if libFuzzer found a crash, leak, timeout or OOM.
run_one() {
    local bin=$1 target=$2 limit=$3
    local work="$WORK/$target" art="$FUZZ_DIR/artifacts/$target"
    local logs="$WORK/logs" logf
    mkdir -p "$work" "$art" "$logs"
    # One log per run: two runs of a target at once (CI's short one beside
    # a long one) must not truncate each other's.
    logf="$logs/$target.$(date +%Y%m%d-%H%M%S).$$.log"
    local args=("$limit" -max_len="$(max_len "$target")" -rss_limit_mb="$RSS_MB"
        -timeout="$TIMEOUT" -artifact_prefix="$art/" -print_final_stats=1)
    if [ "$JOBS" -gt 1 ]; then
        args+=(-fork="$JOBS")
    fi
    log "fuzzing $target ($limit, jobs $JOBS)"
    local rc=0 start end
    start=$(date +%s)
    "$bin" "${args[@]}" "$work" "$FUZZ_DIR/corpus/$target" >"$logf" 2>&1 || rc=$?
    end=$(date +%s)
    # Total executions: libFuzzer's final stats, else the last status line.
    local execs
    execs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$logf" | grep -oE '[0-9]+$' | tail -1)
    if [ -z "$execs" ]; then
        execs=$(grep -aoE '^#[0-9]+' "$logf" | tr -d '#' | tail -1)
    fi
    printf '%-10s %12s executions in %5ss  (%s/s)  %s\n' "$target" "${execs:-0}" \
        "$((end - start))" "$(((${execs:-0}) / (end - start > 0 ? end - start : 1)))" \
        "$([ "$rc" = 0 ] && echo ok || echo "FAILED rc=$rc, see $logf")"
    if [ "$rc" != 0 ]; then
        grep -aE 'ERROR|panicked|SUMMARY|Test unit written' "$logf" | head -20 >&2 || true
    fi
    return "$rc"
}

# run_all DIR LIMIT_FLAG [TARGET...]
run_all() {
    local dir=$1 limit=$2
    shift 2
    local targets=("$@") failed=0 t
    [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
    for t in "${targets[@]}"; do
        [ -x "$dir/$t" ] || die "no fuzz binary $dir/$t (scripts/fuzz.sh build)"
        run_one "$dir/$t" "$t" "$limit" || failed=1
    done
    return "$failed"
}

cmd=${1:-}
shift || true
case "$cmd" in
    build)
        build
        bin_dir
        ;;
    run)
        [ $# -ge 1 ] || die "usage: fuzz.sh run SECONDS [TARGET...]"
        secs=$1
        shift
        build
        run_all "$(bin_dir)" -max_total_time="$secs" "$@"
        ;;
    runs)
        [ $# -ge 1 ] || die "usage: fuzz.sh runs COUNT [TARGET...]"
        count=$1
        shift
        build
        run_all "$(bin_dir)" -runs="$count" "$@"
        ;;
    ci)
        # The harness tests first: every seed still reaches the executor.
        log "fuzz harness tests"
        (cd "$FUZZ_DIR" && cargo test -q --lib >&2)
        build
        run_all "$(bin_dir)" -max_total_time="${FUZZ_CI_SECONDS:-20}"
        ;;
    run-prebuilt)
        [ $# -ge 2 ] || die "usage: fuzz.sh run-prebuilt DIR SECONDS [TARGET...]"
        dir=$1 secs=$2
        shift 2
        run_all "$dir" -max_total_time="$secs" "$@"
        ;;
    runs-prebuilt)
        [ $# -ge 2 ] || die "usage: fuzz.sh runs-prebuilt DIR COUNT [TARGET...]"
        dir=$1 count=$2
        shift 2
        run_all "$dir" -runs="$count" "$@"
        ;;
    seeds)
        # Seeds, and the reproducers of the fixed findings.
        (cd "$FUZZ_DIR" && rm -rf corpus && cargo run -q --example make_seeds -- corpus)
        ;;
    *)
        sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
