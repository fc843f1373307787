#!/bin/sh
# libvirt's QEMU hook for vgpu (installed as /etc/libvirt/hooks/qemu.d/vgpu by
# scripts/install-host.sh; docs/install.md, "libvirt"). A domain NAME with a
# configuration /etc/vgpu/NAME.toml gets its vgpu-host before QEMU starts
# (prepare) and loses it after QEMU is gone (release, which libvirt runs on
# every stop: shutdown, destroy, crash, failed start). With systemd that is
# the unit vgpu-host@NAME; without, this script runs vgpu-host itself, as
# user vgpu when it exists, and keeps its pid under /run/vgpu/NAME/.
# libvirt calls it as: qemu.d/vgpu NAME OPERATION SUB-OPERATION EXTRA, the
# domain XML on stdin; a non-zero exit with a message on stderr stops the
# domain's start. libvirt reads the hook directory when the daemon starts.
set -u
vm=${1:-} op=${2:-} sub=${3:-}
conf=/etc/vgpu/$vm.toml
[ -f "$conf" ] || exit 0
run=/run/vgpu/$vm
pidfile=$run/vgpu-host.pid
log=/var/log/libvirt/qemu/$vm-vgpu-host.log
# The socket QEMU connects to: the configuration's `socket`, else the unit's.
socket=$(sed -n 's/^[[:space:]]*socket[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' "$conf" | head -n 1)
[ -n "$socket" ] || socket=$run/vfio-user.sock

fail() { echo "vgpu hook: $vm: $*" >&2; exit 1; }

with_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# Whether process $1 runs: exists and is no zombie (a container's init may
# not reap the detached vgpu-host at once).
running() {
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}

alive() { [ -f "$pidfile" ] && running "$(cat "$pidfile")"; }

start_direct() {
    bin=$(command -v vgpu-host) || fail "vgpu-host not found in PATH ($PATH)"
    # What the unit's RuntimeDirectory= gives it: a directory only group
    # vgpu (QEMU's user is a member) may enter.
    if getent passwd vgpu >/dev/null; then
        install -d -m 0750 -o vgpu -g vgpu "$run" || fail "cannot create $run"
        as_owner="setpriv --reuid=vgpu --regid=vgpu --init-groups --" mask=0007
    else
        install -d -m 0755 "$run" || fail "cannot create $run"
        as_owner='' mask=0000
    fi
    # Detached from libvirt: its own session, no descriptor of the hook's.
    # shellcheck disable=SC2086
    (umask $mask; exec setsid $as_owner "$bin" --config "$conf" --force \
        </dev/null >>"$log" 2>&1) &
    echo $! >"$pidfile"
}

stop_direct() {
    if alive; then
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null
        i=0
        while running "$pid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        running "$pid" && kill -KILL "$pid" 2>/dev/null
    fi
    rm -rf "$run"
}

wait_socket() {
    i=0
    while [ ! -S "$socket" ]; do
        if with_systemd; then
            systemctl is-active --quiet "vgpu-host@$vm" || fail "vgpu-host@$vm is not running (journalctl -u vgpu-host@$vm)"
        elif ! alive; then
            fail "vgpu-host exited (log: $log)"
        fi
        [ $i -lt 100 ] || fail "vgpu-host did not create $socket in 10 s"
        sleep 0.1
        i=$((i + 1))
    done
}

case "$op/$sub" in
    prepare/begin)
        if with_systemd; then
            systemctl start "vgpu-host@$vm" || fail "systemctl start vgpu-host@$vm failed"
        else
            stop_direct
            start_direct
        fi
        wait_socket
        ;;
    release/end)
        if with_systemd; then
            systemctl stop "vgpu-host@$vm"
        else
            stop_direct
        fi
        ;;
esac
exit 0
