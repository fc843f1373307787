#!/bin/sh
# in-host-root COMMAND [ARG...]: chroots into the host's root (shared
# read-only over 9p as "hostroot") with a tmpfs overlay and runs COMMAND
# there. The overlay's upper and lower directories are visible in the chroot
# at /mnt/vgpu-upper and /mnt/vgpu-lower. /tmp stays the host's (under the
# overlay): the repository, and with it the dist and the test tools, may
# live there.
mkdir -p /mnt/host /mnt/ovl /mnt/root
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /mnt/host
mount -t tmpfs ovl /mnt/ovl && mkdir -p /mnt/ovl/u /mnt/ovl/w
mount -t overlay overlay -o lowerdir=/mnt/host,upperdir=/mnt/ovl/u,workdir=/mnt/ovl/w /mnt/root
for d in proc sys dev run; do mkdir -p /mnt/root/$d; done
mount -t proc proc /mnt/root/proc && mount -t sysfs sys /mnt/root/sys
mount -t devtmpfs dev /mnt/root/dev && mount -t tmpfs run /mnt/root/run
ln -sf /proc/self/fd /mnt/root/dev/fd
mkdir -p /mnt/root/mnt/vgpu-upper && mount -o bind /mnt/ovl/u /mnt/root/mnt/vgpu-upper
mkdir -p /mnt/root/mnt/vgpu-lower && mount -o bind /mnt/host /mnt/root/mnt/vgpu-lower
exec chroot /mnt/root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
