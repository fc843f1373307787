#!/usr/bin/env bash
# Builds the driver-call tracer (README.md) into <out> (default target/tracer):
#   libcuda.so.1     the tracer (soname libcuda.so.1; needs only libc at run time)
#   tracer-test, fake-driver.so   what selftest.sh runs
#   cudart-static, cudart-shared  cudart-sample.cu built by CUDA's nvcc (PTX for
#                    sm_90, so a simulator or any newer GPU runs it), with
#                    cudart-lib/libcudart.so.13 for the shared one
# Needs gcc, python3 and the CUDA toolkit (build time only).
#   tests/gpu/tracer/build.sh [out dir]
# VGPU_CUDA is the CUDA toolkit (default: the one in $VGPU_CACHE), CUDA_INCLUDE
# its headers' directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
out=${1:-$repo/target/tracer}
cuda=${VGPU_CUDA:-${VGPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vgpu}/cuda-13.0.88/nvidia/cu13}
inc=${CUDA_INCLUDE:-$cuda/include}
[ -f "$inc/cuda.h" ] || { echo "build.sh: no cuda.h in $inc (set VGPU_CUDA or CUDA_INCLUDE)" >&2; exit 2; }
mkdir -p "$out/gen" "$out/obj"
python3 "$here/gen.py" --cuda-include "$inc" --r580 "$repo/userlib/proc-address/r580.tsv" \
    --exports "$repo/userlib/src/exports.rs" --details "$here/details.c" \
    --extra "$here/extra-names.txt" --out "$out/gen"
cflags=(-O2 -g -fPIC -fvisibility=hidden -std=gnu11 -Wall -Wextra -Werror -I"$here")
gcc "${cflags[@]}" -Wno-unused-parameter -D__CUDA_API_VERSION_INTERNAL -I"$inc" \
    -c "$out/gen/calls.c" -o "$out/obj/calls.o"
gcc "${cflags[@]}" -D__CUDA_API_VERSION_INTERNAL -I"$inc" -c "$here/details.c" -o "$out/obj/details.o"
gcc "${cflags[@]}" -c "$out/gen/names.c" -o "$out/obj/names.o"
gcc "${cflags[@]}" -c "$here/tracer.c" -o "$out/obj/tracer.o"
gcc "${cflags[@]}" -c "$here/lookup.c" -o "$out/obj/lookup.o"
gcc -c "$here/trampolines.S" -o "$out/obj/trampolines.o"
gcc -c "$out/gen/stubs.S" -o "$out/obj/stubs.o"
gcc -shared -o "$out/libcuda.so.1" "$out"/obj/*.o -Wl,-soname,libcuda.so.1 -Wl,-Bsymbolic \
    -Wl,--version-script="$here/exports.map" -Wl,-z,now -Wl,-z,relro -ldl -lpthread
# Triton and others link with -lcuda: give them the unversioned name too.
ln -sf libcuda.so.1 "$out/libcuda.so"
gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -o "$out/tracer-test" "$here/tracer-test.c" -ldl -lpthread
gcc -O2 -g -std=gnu11 -Wall -Wextra -Werror -fPIC -shared -Wl,-z,relro -Wl,-z,now \
    -o "$out/fake-driver.so" "$here/fake-driver.c"
if [ -x "$cuda/bin/nvcc" ]; then
    mkdir -p "$out/cudart-lib"
    cp "$cuda/lib/libcudart.so.13" "$out/cudart-lib/"
    ln -sf libcudart.so.13 "$out/cudart-lib/libcudart.so"
    # --no-compress: the simulator reads uncompressed PTX only (build-cuda-programs.sh).
    nvcc=("$cuda/bin/nvcc" -gencode "arch=compute_90,code=compute_90" --no-compress -L"$cuda/lib")
    "${nvcc[@]}" -o "$out/cudart-static" "$here/cudart-sample.cu"
    "${nvcc[@]}" -cudart shared -L"$out/cudart-lib" -o "$out/cudart-shared" "$here/cudart-sample.cu"
else
    echo "build.sh: no nvcc in $cuda/bin: cudart samples not built" >&2
fi
echo "built $out/libcuda.so.1 ($(nm -D --defined-only "$out/libcuda.so.1" | grep -c ' cu') cu* exports)"
