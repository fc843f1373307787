#!/bin/sh
# Waits up to 10 s for the first device node (the driver creates it
# asynchronously after modprobe returns).
i=0; while [ ! -e /dev/vgpu0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
