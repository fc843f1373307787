#!/usr/bin/env bash
# Builds the cudart test programs (tests/cuda-programs/*.cu) with NVIDIA's
# nvcc, each twice: <name>-static (cudart linked in, nvcc's default) and
# <name>-shared (-cudart shared: libcudart.so.13, copied to lib/ beside
# them). Prints the output directory, target/cuda-programs. Skips the build
# when the sources, this script and the toolkit are unchanged.
#
# One build serves everywhere: PTX for compute_90 only. The simulator runs
# PTX; the H200 JITs it (nvcc 13.0's PTX matches the R580 driver there).
# --no-compress: nvcc 13 compresses the fatbin's PTX by default (entry flag
# 0x8000, zstd), and the simulator cannot decompress; NVIDIA's driver reads
# uncompressed entries as well.
source "$(dirname "$0")/common.sh"
exec 3>&1 1>&2
source "$REPO_ROOT/scripts/cuda-toolkit.sh"

src="$REPO_ROOT/tests/cuda-programs"
out="$REPO_ROOT/target/cuda-programs"
stamp="$out/.stamp"
want=$( (cat "$src"/*.cu "$src"/*.h "$0"; "$VGPU_NVCC" --version) | sha256sum | cut -c1-12)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "$out" >&3
    exit 0
fi

log "building the cudart test programs with $("$VGPU_NVCC" --version | tail -n 1)"
rm -rf "$out" && mkdir -p "$out/lib" "$out/link"
cp "$VGPU_CUDA_HOME/lib/libcudart.so.13" "$out/lib/"
# The toolkit has only the versioned file; the linker wants the plain name.
ln -s "$VGPU_CUDA_HOME/lib/libcudart.so.13" "$out/link/libcudart.so"
flags=(-std=c++17 -O2 -gencode "arch=compute_90,code=compute_90" --no-compress -Xcompiler -Wall)
for cu in "$src"/*.cu; do
    name=$(basename "$cu" .cu)
    "$VGPU_NVCC" "${flags[@]}" -L"$VGPU_CUDA_HOME/lib" "$cu" -o "$out/$name-static" \
        || die "$name (static cudart) did not build"
    "$VGPU_NVCC" "${flags[@]}" -cudart shared -L"$out/link" -L"$VGPU_CUDA_HOME/lib" "$cu" -o "$out/$name-shared" \
        || die "$name (shared cudart) did not build"
done
rm -rf "$out/link"
echo "$want" >"$stamp"
log "built $(find "$out" -maxdepth 1 -type f -perm -u+x | wc -l) cudart programs into $out"
echo "$out" >&3
