#!/bin/sh
# Regenerates the PTX fixtures of host/tests/ptx_nvcc.rs from the CUDA C++
# sources beside this script. The fixtures are checked in so tests need no
# nvcc; run this only after changing a .cu file (CUDA 13.0.88, the PyPI
# toolkit setup.sh installs).
set -eu
C=${CUDA_HOME:-/root/.cache/vgpu/cuda-13.0.88/nvidia/cu13}
cd "$(dirname "$0")"
for f in *.cu; do
    "$C/bin/nvcc" -arch=compute_90 -ptx "$f" -o "${f%.cu}.ptx"
done
# Debug builds: no optimisation, generic loads/stores, .loc/.file/.section.
for f in indexing warp; do
    "$C/bin/nvcc" -arch=compute_90 -ptx -G "$f.cu" -o "$f.G.ptx"
done
"$C/bin/nvcc" -arch=compute_90 -ptx -lineinfo shared.cu -o shared.lineinfo.ptx
