#!/usr/bin/env bash
# The first run: builds what is missing, starts vgpu-host (the simulator
# executor: no GPU needed), boots a VM with the VGPU-STUB under QEMU, loads
# vgpu.ko, and shows the device in vgpu-smi's table and CUDA programs (vector
# add, saxpy, reduction) computing on it through our libcuda.so.1. Under a
# minute once built (docs/install.md, "First run").
source "$(dirname "$0")/vm-env.sh"
log "booting the guest (TCG)"
exec "$VGPU_RUNNER" demo
