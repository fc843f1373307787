# shellcheck shell=bash
# Sourced: NVIDIA's CUDA 13.0 compiler and runtime from their PyPI wheels,
# unpacked once into $VGPU_CACHE/cuda-<nvcc version> (no GPU, no driver, no
# root needed). Exports VGPU_CUDA_HOME (the nvidia/cu13 tree: bin, include,
# lib, nvvm) and VGPU_NVCC. Pinned to the GPU machine's toolkit (nvcc
# V13.0.88, driver R580): PTX from a newer nvcc does not JIT there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CUDA_NVCC_VERSION=13.0.88
CUDA_WHEELS=("nvidia-cuda-nvcc==$CUDA_NVCC_VERSION" "nvidia-cuda-crt==$CUDA_NVCC_VERSION"
    "nvidia-nvvm==$CUDA_NVCC_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85)

# Every pinned wheel leaves its NAME-VERSION.dist-info in the tree: the tree
# is complete for these pins when all of them are there.
cuda_toolkit_complete() {
    local w
    for w in "${CUDA_WHEELS[@]}"; do
        [ -d "$1/$(echo "${w%%==*}" | tr - _)-${w##*==}.dist-info" ] || return 1
    done
    [ -x "$1/nvidia/cu13/bin/nvcc" ]
}

cuda_toolkit() {
    local dir="$VGPU_CACHE/cuda-$CUDA_NVCC_VERSION"
    if ! cuda_toolkit_complete "$dir"; then
        log "downloading NVIDIA's CUDA $CUDA_NVCC_VERSION compiler and runtime wheels (about 60 MB)"
        local tmp="$dir.tmp.$$"
        rm -rf "$tmp" && mkdir -p "$tmp/wheels"
        python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp/wheels" "${CUDA_WHEELS[@]}" \
            || die "pip could not download ${CUDA_WHEELS[*]}"
        local whl
        for whl in "$tmp"/wheels/*.whl; do
            unzip -q -o "$whl" -d "$tmp/tree" || die "unzip $whl failed"
        done
        cuda_toolkit_complete "$tmp/tree" || die "the CUDA wheels did not unpack into nvidia/cu13"
        rm -rf "$dir" && mv "$tmp/tree" "$dir" && rm -rf "$tmp"
        log "CUDA toolkit in $dir"
    fi
    VGPU_CUDA_HOME="$dir/nvidia/cu13"
    VGPU_NVCC="$VGPU_CUDA_HOME/bin/nvcc"
    export VGPU_CUDA_HOME VGPU_NVCC
}
cuda_toolkit
