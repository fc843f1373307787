#!/usr/bin/env bash
# The main job: build what is missing, start vgpu-host on the sim executor,
# boot a VM with the VGPU-STUB, load vgpu.ko and print the device as the
# guest sees it.
source "$(dirname "$0")/vm-env.sh"
log "booting the guest (TCG)"
exec "$VGPU_RUNNER" demo
