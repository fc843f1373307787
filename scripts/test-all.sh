#!/usr/bin/env bash
# Every test: formatting and lints, unit and host-side tests of every crate,
# then the VM test bed (guest kernel + vgpu.ko + vgpu-host with the sim
# executor under QEMU/TCG). Installs and builds what is missing first.
source "$(dirname "$0")/vm-env.sh"
cd "$REPO_ROOT"

log "cargo fmt --check"
cargo fmt --all -- --check
rustfmt --check --edition 2021 --config-path kmod/.rustfmt.toml kmod/vgpu_main.rs
log "cargo clippy"
cargo clippy -q --workspace --all-targets -- -D warnings
log "unit and host-side tests"
cargo test -q --workspace 2>&1
log "fuzz targets, short run (scripts/fuzz.sh ci)"
"$REPO_ROOT/scripts/fuzz.sh" ci
log "host service: unit verified, vgpu-host check with the simulator (scripts/check-service.sh)"
"$REPO_ROOT/scripts/check-service.sh"
log "Debian packages: reproducible, control data, lintian (scripts/check-debs.sh)"
"$REPO_ROOT/scripts/check-debs.sh"
log "driver-call tracer self-test"
bash tests/gpu/tracer/selftest.sh
log "benchmark report (scripts/bench-report.py) on canned output"
PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s scripts -p 'test_*.py'
log "libvirt: virsh define/start/destroy with the hook's vgpu-host (scripts/test-libvirt.sh)"
bash "$REPO_ROOT/scripts/test-libvirt.sh"
log "VM tests"
"$VGPU_RUNNER" test
