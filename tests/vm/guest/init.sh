#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
export PATH=/bin:/sbin
echo "@@BOOTED"
. /etc/vgpu-steps
echo "@@DONE"
poweroff -f
