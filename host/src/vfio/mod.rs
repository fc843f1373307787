//! The vfio-user transport: our own server for QEMU's `vfio-user-pci`
//! (QEMU's `docs/interop/vfio-user.rst`, protocol 0.0).
//!
//! - [`wire`]: the messages, parsed and built as pure functions;
//! - [`conn`]: whole messages off the socket, with their descriptors;
//! - [`server`]: one connection, message by message, checked and answered;
//! - [`backend`]: the device behind it, and the region and IRQ tables;
//! - here: the socket (mode 0600, bound before anyone may connect) and the
//!   accept loop, which admits only vgpu-host's own user, root, or the
//!   configured [`SocketAccess::owner`], one VMM at a time.
//!
//! It replaces the `vfio_user` crate's server, which lost step on unknown
//! or refused messages, answered errors as successes, and could be made to
//! panic or allocate 4 GiB by its peer (review `host-security.md`, M2).

pub mod backend;
pub mod conn;
pub mod server;
pub mod wire;

pub use backend::{Backend, DeviceBackend, DmaMapFlags, DmaUnmapFlags, Tables};

use nix::sys::socket::{getsockopt, sockopt};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Who may connect to the vfio-user socket besides vgpu-host's own user
/// and root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketAccess {
    /// The user QEMU runs as (`socket_owner`): admitted, and given the
    /// socket when vgpu-host may (as root); otherwise the socket is 0660
    /// and QEMU's user reaches it through vgpu-host's group.
    pub owner: Option<u32>,
}

impl SocketAccess {
    /// Whether a peer of uid `uid` is admitted.
    pub fn admits(&self, uid: u32) -> bool {
        uid == nix::unistd::geteuid().as_raw() || uid == 0 || self.owner == Some(uid)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket path exists and `--force` was not given.
    #[error("socket {0} already exists; remove it or pass --force")]
    Exists(String),
    /// The path exists and is not a socket, so `--force` will not remove it.
    #[error("{0} exists and is not a socket; refusing to remove it")]
    NotASocket(String),
    /// Removing the stale socket failed.
    #[error("cannot remove stale socket {path}: {source}")]
    Remove {
        /// The socket.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Creating, binding, restricting or listening failed.
    #[error("cannot listen on {path}: {what}: {source}")]
    Bind {
        /// The socket.
        path: String,
        /// The step that failed.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// The listening vfio-user socket; the socket file is removed when it is
/// dropped.
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
    access: SocketAccess,
    tables: Tables,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// [`listen_with`] admitting vgpu-host's own user and root only.
pub fn listen(path: &Path, force: bool) -> Result<Listener, ListenError> {
    listen_with(path, force, SocketAccess::default())
}

/// Binds the vfio-user socket at `path`, first removing a stale socket
/// there if `force`. The socket is bound, restricted (0600, or given to
/// `access.owner`) and only then listened on: until `listen` nobody can
/// connect, so there is no window with umask-derived permissions.
pub fn listen_with(
    path: &Path,
    force: bool,
    access: SocketAccess,
) -> Result<Listener, ListenError> {
    let shown = path.display().to_string();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !force {
            return Err(ListenError::Exists(shown));
        }
        if !meta.file_type().is_socket() {
            return Err(ListenError::NotASocket(shown));
        }
        std::fs::remove_file(path).map_err(|source| ListenError::Remove {
            path: shown.clone(),
            source,
        })?;
        tracing::warn!(socket = %shown, "removed stale socket");
    }
    let (listener, mode) =
        crate::unix_socket::bind_restricted(path, 4, |p| restrict(p, access.owner)).map_err(
            |e| ListenError::Bind {
                path: shown.clone(),
                what: e.what,
                source: e.source,
            },
        )?;
    let listener = Listener {
        listener,
        path: path.to_path_buf(),
        access,
        tables: Tables::vgpu(),
    };
    tracing::info!(
        socket = %shown,
        mode = format_args!("{mode:o}"),
        owner = ?access.owner,
        "vfio-user socket ready"
    );
    Ok(listener)
}

/// Mode 0600; given to `owner` if there is one and we may chown (root),
/// else 0660 for `owner` to reach it through our group. Returns the mode.
fn restrict(path: &Path, owner: Option<u32>) -> std::io::Result<u32> {
    let own = nix::unistd::geteuid().as_raw();
    let mode = match owner {
        Some(uid) if uid != own => match std::os::unix::fs::chown(path, Some(uid), None) {
            Ok(()) => 0o600,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                tracing::info!(
                    owner = uid,
                    "cannot give the socket to its owner (not root): mode 0660, \
                     the owner reaches it through this process's group"
                );
                0o660
            }
            Err(e) => return Err(e),
        },
        _ => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(mode)
}

/// The uid of the connected peer, if the kernel will say.
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    getsockopt(stream, sockopt::PeerCredentials)
        .ok()
        .map(|c| c.uid())
}

/// Serves one VMM connection after another until `stop` is set (checked
/// between connections). A peer not admitted by the socket's access is
/// logged and closed.
pub fn serve<B: DeviceBackend>(listener: &Listener, backend: &mut B, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        tracing::info!("waiting for a vfio-user connection");
        let mut stream = match listener.listener.accept() {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                // EMFILE and the like: do not spin.
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let uid = peer_uid(&stream);
        if !uid.is_some_and(|uid| listener.access.admits(uid)) {
            tracing::warn!(
                ?uid,
                owner = ?listener.access.owner,
                "vfio-user peer refused: not this user, root or the socket's owner"
            );
            continue;
        }
        tracing::info!(?uid, "vfio-user client connected");
        match server::Session::new(backend, &listener.tables).run(&mut stream) {
            server::End::Closed => tracing::info!("vfio-user client disconnected"),
            end => tracing::warn!(%end, "vfio-user connection ended"),
        }
        backend.disconnect();
    }
}
