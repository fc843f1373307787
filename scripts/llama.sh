#!/usr/bin/env bash
# llama.cpp with ggml-cuda for the GPU machine (issue 11, item 3), from the
# llama-cpp-python sdist on PyPI, which vendors llama.cpp and ggml.
#
#   scripts/llama.sh fetch        (here, with network) downloads the pinned
#                                 sdist, checks its sha256, trims it to what
#                                 the build needs (no docs, models but the
#                                 llama-spm vocabulary, other ggml backends,
#                                 web UI sources) and packs it reproducibly
#                                 into target/llama/llama.cpp-src.tar.xz
#                                 (scripts/gpu-suite.sh pack carries it); the
#                                 trimmed tree stays in target/llama/src
#   scripts/llama.sh build [S]    (GPU machine) builds llama-server,
#                                 llama-cli, llama-completion, llama-bench
#                                 and our vgpu-logits-dump
#                                 (tests/gpu/llama/logits-dump.cpp) into
#                                 $VGPU_LLAMA_WORK/build/bin, detached
#                                 (setsid), waiting up to S seconds (default
#                                 540) for it: exit 0 built, 3 still building
#                                 (call again), 1 failed ($VGPU_LLAMA_WORK/build.log)
#   scripts/llama.sh model [OUT]  makes the test GGUF (tests/gpu/llama/make-model.py,
#                                 numpy) from the tree and checks its sha256
#                                 against tests/gpu/llama/model.sha256
#
# VGPU_LLAMA_WORK: the GPU machine's build directory (/var/tmp/vgpu-llama;
# outside the suite's unpacked pack, which each run replaces). The source
# pack is looked for in $VGPU_LLAMA_PACK, target/llama/, the suite's
# unpacked pack (/var/tmp/vgpu-pack/llama/), then inside target/gpu-pack.tar.xz.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

# The pinned sdist: llama-cpp-python 0.3.36 (llama.cpp as vendored there).
LLAMA_PY_VERSION=0.3.36
LLAMA_SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
pack_name=llama.cpp-src.tar.xz
local_dir=$repo/target/llama
work=${VGPU_LLAMA_WORK:-/var/tmp/vgpu-llama}
python=${VGPU_PYTHON:-python3}
[ -n "${VGPU_PYTHON:-}" ] || { [ -x /opt/torch/.venv/bin/python3 ] && python=/opt/torch/.venv/bin/python3; }

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# What of the vendored tree the build does not need (paths under llama.cpp/).
trim_tree() {
    local t=$1 b
    rm -rf "${t:?}"/{docs,media,benches,tests,examples,pocs,ci,.devops,.github,app,skills,licenses,grammars} \
        "$t"/tools/ui/{src,tests,static,package-lock.json} "$t"/ggml/{tests,examples}
    find "$t/models" -mindepth 1 ! -name ggml-vocab-llama-spm.gguf -exec rm -rf {} +
    # Backends other than CPU, CUDA (and BLAS, RPC: small), each added only
    # when its GGML_<NAME> option is on.
    for b in cann et hexagon hip metal musa opencl openvino sycl virtgpu vulkan webgpu zdnn zendnn; do
        rm -rf "$t/ggml/src/ggml-$b"
    done
}

fetch() {
    command -v pip >/dev/null || die "pip is needed"
    local tmp sdist got
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    log "downloading the llama-cpp-python $LLAMA_PY_VERSION sdist"
    # --no-binary for this package only: its build requirements (for the
    # metadata step) may come as wheels; ':all:' would build CMake from source.
    pip download --quiet --no-deps --no-binary llama-cpp-python -d "$tmp" \
        "llama-cpp-python==$LLAMA_PY_VERSION" >&2 || die "pip download failed"
    sdist=$(ls "$tmp"/llama_cpp_python-"$LLAMA_PY_VERSION".tar.gz)
    got=$(sha256sum "$sdist" | cut -d' ' -f1)
    [ "$got" = "$LLAMA_SDIST_SHA256" ] || die "sdist sha256 $got, expected $LLAMA_SDIST_SHA256"
    tar -C "$tmp" -xzf "$sdist"
    rm -rf "$local_dir/src" && mkdir -p "$local_dir"
    mv "$tmp/llama_cpp_python-$LLAMA_PY_VERSION/vendor/llama.cpp" "$local_dir/src"
    trim_tree "$local_dir/src"
    echo "llama-cpp-python $LLAMA_PY_VERSION sdist $got" >"$local_dir/src/VGPU-SOURCE"
    # Reproducible: sorted names, no owners or times.
    tar -C "$local_dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        --transform 's#^src#llama.cpp#' -cf - src | xz -9 -T1 >"$local_dir/$pack_name"
    log "packed $(du -h "$local_dir/$pack_name" | cut -f1) ($(stat -c %s "$local_dir/$pack_name") bytes) into $local_dir/$pack_name"
    echo "$local_dir/$pack_name"
}

# The source pack on this machine (see the header).
find_pack() {
    local c
    for c in "${VGPU_LLAMA_PACK:-}" "$local_dir/$pack_name" "/var/tmp/vgpu-pack/llama/$pack_name"; do
        [ -n "$c" ] && [ -f "$c" ] && { echo "$c"; return 0; }
    done
    if [ -f "$repo/target/gpu-pack.tar.xz" ]; then
        mkdir -p "$work/pack"
        tar -C "$work/pack" -xJf "$repo/target/gpu-pack.tar.xz" "./llama/$pack_name" 2>/dev/null &&
            { echo "$work/pack/llama/$pack_name"; return 0; }
    fi
    return 1
}

# The build itself, in the foreground (build starts it detached).
build_fg() {
    local src pack nvcc sha
    pack=$(find_pack) || die "no $pack_name (run 'scripts/llama.sh fetch' or 'scripts/gpu-suite.sh pack' and carry it)"
    sha=$(sha256sum "$pack" | cut -d' ' -f1)
    nvcc=${VGPU_NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    rm -rf "$work/src" "$work/build" "$work/built" "$work/failed"
    mkdir -p "$work"
    tar -C "$work" -xJf "$pack" && mv "$work/llama.cpp" "$work/src"
    src=$work/src
    log "configuring ($(cat "$src/VGPU-SOURCE"); nvcc $nvcc)"
    cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$nvcc" \
        -DGGML_CUDA_FA_ALL_QUANTS=OFF -DGGML_NATIVE=OFF -DGGML_CCACHE=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF
    log "building"
    ninja -C "$work/build" llama-server llama-cli llama-completion llama-bench
    # Ours, against the libraries just built (their RPATH is the build tree).
    g++ -std=c++17 -O2 -Wall -I"$src/include" -I"$src/ggml/include" "$repo/tests/gpu/llama/logits-dump.cpp" \
        -L"$work/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$work/build/bin" \
        -o "$work/build/bin/vgpu-logits-dump"
    echo "$sha" >"$work/built"
    log "built: $(printf '%s ' "$work"/build/bin/{llama-server,llama-cli,llama-completion,llama-bench,vgpu-logits-dump})"
}

# Whether the build of the pack now on this machine is done.
built() {
    local pack
    pack=$(find_pack) || return 1
    [ -f "$work/built" ] && [ "$(cat "$work/built")" = "$(sha256sum "$pack" | cut -d' ' -f1)" ]
}

build() {
    local wait_s=${1:-540} pid end
    mkdir -p "$work"
    if built; then
        log "already built in $work/build/bin"
        return 0
    fi
    pid=$(cat "$work/build.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        log "starting the build (log: $work/build.log)"
        setsid nohup bash "$0" build-fg </dev/null >"$work/build.log" 2>&1 &
        echo $! >"$work/build.pid"
        pid=$!
    else
        log "a build is running (pid $pid)"
    fi
    end=$((SECONDS + wait_s))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 5; done
    if built; then
        log "built in $work/build/bin"
        return 0
    fi
    tail -n 20 "$work/build.log" >&2 || true
    if kill -0 "$pid" 2>/dev/null; then
        log "still building after ${wait_s}s: run 'scripts/llama.sh build' again"
        return 3
    fi
    log "the build failed ($work/build.log)"
    return 1
}

# The test model, checked against the recorded sha256.
model() {
    local out=${1:-$work/model.gguf} tree want got
    tree=$work/src
    [ -d "$tree/gguf-py" ] || tree=$local_dir/src
    [ -d "$tree/gguf-py" ] || die "no llama.cpp tree (fetch or build first)"
    want=$(cut -d' ' -f1 "$repo/tests/gpu/llama/model.sha256")
    if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$want" ]; then
        log "$out is already the model"
        echo "$out"
        return 0
    fi
    mkdir -p "$(dirname "$out")"
    "$python" "$repo/tests/gpu/llama/make-model.py" "$tree" "$out" >&2
    got=$(sha256sum "$out" | cut -d' ' -f1)
    [ "$got" = "$want" ] || die "model sha256 $got, expected $want (tests/gpu/llama/model.sha256)"
    echo "$out"
}

case "${1:-}" in
    fetch) fetch ;;
    build) build "${2:-540}" ;;
    build-fg) build_fg ;;
    model) model "${2:-}" ;;
    *) echo "usage: $0 fetch|build [WAIT_S]|model [OUT]" >&2; exit 2 ;;
esac
