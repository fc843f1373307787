#!/usr/bin/env bash
# Prints the input of gen-proc-table: every base name that CUDA's driver
# headers declare (cuda.h and the interop/profiler headers) or that our
# libcuda exports, and every cudaVersion at which cudaTypedefs.h says an
# entry point changed, plus each minor release from 2.0 to 13.2.
# Usage: proc-table-input.sh <cuda include dir> [our exports.rs]
set -euo pipefail
inc=$1
exports=${2:-$(dirname "$0")/../../userlib/src/exports.rs}
{
    for h in cuda.h cudaGL.h cudaEGL.h cudaVDPAU.h cudaProfiler.h; do
        if [ -f "$inc/$h" ]; then cat "$inc/$h"; fi
    done |
        grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d '( \t'
    grep -oE '\bcu[A-Z][A-Za-z0-9_]*\b' "$exports"
} | sed -E 's/(_ptds|_ptsz)$//; s/_v[0-9]+$//' | sort -u | sed 's/^/name /'
{
    grep -oE 'PFN_cu[A-Za-z0-9_]*_v[0-9]{4,5}\b' "$inc"/cudaTypedefs.h | grep -oE '[0-9]{4,5}$'
    for major in $(seq 2 13); do for minor in $(seq 0 9); do echo $((major * 1000 + minor * 10)); done; done
} | sort -un | sed 's/^/version /'
