#!/usr/bin/env bash
# The guest ioctl fuzzer under the debug guest kernel (KASAN, KFENCE,
# lockdep; tests/vm/kernel-debug.config): builds that kernel and a vgpu.ko
# against it if missing (cached apart from the normal ones), then runs the
# kasan-fuzz VM scenario (vgpu-guest test ioctl-fuzz, then rmmod and the
# kernel log's checks).
#
#   scripts/kasan-fuzz.sh [SECONDS [SEED]]     default 600 s, seed from the guest's clock
#
# The seed is printed in the result line (`@@FUZZ seed=...`); pass it back
# to repeat a run's sequence of operations (timing still differs).
set -euo pipefail
export VGPU_KERNEL_VARIANT=debug
export VGPU_FUZZ_SECONDS=${1:-600}
[ -z "${2:-}" ] || export VGPU_FUZZ_SEED=$2
source "$(dirname "$0")/vm-env.sh"
exec "$VGPU_RUNNER" test kasan-fuzz
