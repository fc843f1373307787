# Sourced: builds whatever is missing for the VM test bed and exports the
# paths vm-runner reads. Kernel and QEMU come from $VGPU_CACHE when present.
# VGPU_KERNEL_VARIANT=debug selects the KASAN + lockdep guest kernel, a vgpu.ko
# built against it (target/kmod-debug) and its own work dir (target/vm-debug).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$REPO_ROOT/scripts/setup-deps.sh"
KDIR=$("$REPO_ROOT/scripts/build-kernel.sh")
export KDIR
VGPU_QEMU=$("$REPO_ROOT/scripts/build-qemu.sh")
VGPU_KMOD=$("$REPO_ROOT/scripts/build-kmod.sh")
# NVIDIA's nvcc and cudart (PyPI wheels, cached) and the cudart test
# programs built with them.
source "$REPO_ROOT/scripts/cuda-toolkit.sh"
VGPU_CUDA_PROGRAMS=$("$REPO_ROOT/scripts/build-cuda-programs.sh")

log "building vgpu-host, vm-runner and the static guest test program"
(cd "$REPO_ROOT" && cargo build -q --release -p vgpu-host -p vgpu-userlib -p vgpu-tests \
    --bin vgpu-host --bin vm-runner --bin cuda-suite --bin nvml-probe --lib)
# The guest has no libc of ours: link the guest program statically. A
# separate --target keeps these flags away from the host build's cache.
(cd "$REPO_ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build -q --release -p vgpu-tests --bin vgpu-guest --target x86_64-unknown-linux-gnu)

export VGPU_QEMU VGPU_KMOD VGPU_CUDA_PROGRAMS
export VGPU_QEMU_DATA=/usr/share/seabios:/usr/share/qemu
export VGPU_KERNEL="$KDIR/arch/x86/boot/bzImage"
export VGPU_KERNEL_RELEASE=$(cat "$KDIR/include/config/kernel.release")
export VGPU_BUSYBOX=/bin/busybox
export VGPU_HOST_BIN="$REPO_ROOT/target/release/vgpu-host"
export VGPU_GUEST_BIN="$REPO_ROOT/target/x86_64-unknown-linux-gnu/release/vgpu-guest"
export VGPU_RUNNER="$REPO_ROOT/target/release/vm-runner"
export VGPU_LIBCUDA="$REPO_ROOT/target/release/libcuda.so"
export VGPU_CUDA_SUITE="$REPO_ROOT/target/release/cuda-suite"
export VGPU_REPO="$REPO_ROOT"
# The install tree and the discovery test's tools (seen by the guest through
# its 9p view of this machine's root).
export VGPU_DIST=$("$REPO_ROOT/scripts/make-dist.sh")
# The Debian packages, and a second build with a higher version to upgrade to.
export VGPU_DEBS=$("$REPO_ROOT/scripts/make-debs.sh" --dist "$VGPU_DIST" --host-bin "$VGPU_HOST_BIN")
export VGPU_DEBS_NEXT=$("$REPO_ROOT/scripts/make-debs.sh" --dist "$VGPU_DIST" --host-bin "$VGPU_HOST_BIN" \
    --revision 2 --out "$REPO_ROOT/target/debs-next")
export VGPU_GUEST_TOOLS="$REPO_ROOT/target/guest-tools"
mkdir -p "$VGPU_GUEST_TOOLS"
cp "$REPO_ROOT/target/release/nvml-probe" "$VGPU_GUEST_TOOLS/"
if [ ! -f "$VGPU_GUEST_TOOLS/python/pynvml.py" ]; then
    python3 -m pip install -q --no-deps --target "$VGPU_GUEST_TOOLS/python" nvidia-ml-py
fi
export VGPU_WORK=${VGPU_WORK:-$REPO_ROOT/target/vm${VGPU_KERNEL_VARIANT:+-$VGPU_KERNEL_VARIANT}}
mkdir -p "$VGPU_WORK"
