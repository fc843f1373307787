//! Listening UNIX sockets that are never reachable with the permissions
//! the umask gave them: bound, restricted, and only then listened on
//! (before `listen`, a connect is refused whatever the file's mode).

use nix::sys::socket::{
    bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;

/// Which step failed.
#[derive(Debug)]
pub struct BindError {
    /// `socket`, `socket path`, `bind`, `restrict` or `listen`.
    pub what: &'static str,
    /// Why.
    pub source: std::io::Error,
}

/// Binds `path`, runs `restrict` on the new file (chmod, chown), then
/// listens with `backlog`. On a failure after the bind the file is
/// removed again.
pub fn bind_restricted<T>(
    path: &Path,
    backlog: i32,
    restrict: impl FnOnce(&Path) -> std::io::Result<T>,
) -> Result<(UnixListener, T), BindError> {
    let fail = |what| {
        move |e: nix::errno::Errno| BindError {
            what,
            source: e.into(),
        }
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(fail("socket"))?;
    let addr = UnixAddr::new(path).map_err(fail("socket path"))?;
    bind(fd.as_raw_fd(), &addr).map_err(fail("bind"))?;
    let listener = UnixListener::from(fd);
    let restricted = restrict(path).map_err(|source| BindError {
        what: "restrict",
        source,
    });
    let listened = restricted.and_then(|r| {
        listen(&listener, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))
            .map(|()| r)
            .map_err(|e| BindError {
                what: "listen",
                source: e.into(),
            })
    });
    match listened {
        Ok(r) => Ok((listener, r)),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;

    fn path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("vgpu-unix-socket-{}-{name}", std::process::id()))
    }

    #[test]
    fn nobody_connects_before_the_restriction_is_in_place() {
        let p = path("order");
        let _ = std::fs::remove_file(&p);
        let (listener, mode) = bind_restricted(&p, 4, |p| {
            // Bound but not listening: a connect is refused here.
            assert!(UnixStream::connect(p).is_err(), "connected before listen");
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))?;
            Ok(0o600)
        })
        .map_err(|e| e.source)
        .unwrap();
        assert_eq!(mode, 0o600);
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(UnixStream::connect(&p).is_ok());
        drop(listener);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn a_failed_restriction_leaves_no_socket_behind() {
        let p = path("fail");
        let _ = std::fs::remove_file(&p);
        let e = bind_restricted::<()>(&p, 4, |_| Err(std::io::Error::other("no")))
            .err()
            .unwrap();
        assert_eq!(e.what, "restrict");
        assert!(std::fs::symlink_metadata(&p).is_err());
    }
}
