//! The direct socket transport: the same commands as the rings, framed on a
//! UNIX stream socket (`uapi::socket`), one client per connection. For
//! development on the GPU machine without a VM, and for containers. Only
//! started when configured (`--direct-socket`). Each connection is served by
//! a worker process of its own (the stream is handed to it, so no byte
//! passes through this process), or by a thread with `--worker-threads`.
//! Direct clients have a registry of their own: they never see the VM's.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::cancel::CancelToken;
use crate::client_page::ClientPage;
use crate::executor::registry::ClientRegistry;
use crate::executor::Command;
use crate::quota::Quotas;
use crate::session::{Directory, Session};
use crate::worker::process::ProcessWorker;
use crate::worker::{Role, Sessions, Setup};
use std::os::fd::AsRawFd;
use uapi::socket::{frame_flags, RequestFrame, ResponseFrame, MAX_FRAME_PAYLOAD};
use uapi::status::Status;
use uapi::wire::Wire;

mod area;
mod host_memory;
#[cfg(test)]
mod in_place_tests;
mod shm;

pub use area::{AttachError, SharedArea};

/// Client ids for logs; the rings use queue indices, these start above them.
static NEXT_CLIENT: AtomicU32 = AtomicU32::new(1 << 16);

/// Who may use the direct socket (the `[direct]` table of the
/// configuration file). vgpu-host's own effective uid always may; by
/// default nobody else (the socket is 0600).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectAccess {
    /// Group the socket is given (mode 0660 then), whose members (by their
    /// effective gid, which is what SO_PEERCRED reports) are admitted.
    pub group: Option<u32>,
    /// Further uids admitted.
    pub uids: Vec<u32>,
    /// Further effective gids admitted.
    pub gids: Vec<u32>,
}

impl DirectAccess {
    /// Whether a peer of effective `uid` and `gid` is admitted.
    pub fn admits(&self, uid: u32, gid: u32) -> bool {
        // SAFETY: geteuid has no preconditions.
        let own = unsafe { libc::geteuid() };
        uid == own
            || self.uids.contains(&uid)
            || self.gids.contains(&gid)
            || self.group == Some(gid)
    }
}

/// [`spawn_with`] admitting vgpu-host's own user only.
pub fn spawn(path: &Path, force: bool, sessions: Sessions) -> std::io::Result<()> {
    spawn_with(path, force, sessions, &DirectAccess::default())
}

/// [`spawn_with_quotas`] with the default quotas.
pub fn spawn_with(
    path: &Path,
    force: bool,
    sessions: Sessions,
    access: &DirectAccess,
) -> std::io::Result<()> {
    spawn_with_quotas(path, force, sessions, access, Quotas::default())
}

/// Binds `path` (removing a stale socket if `force`), restricts it to
/// `access` (mode 0600, or 0660 and its group), and serves each admitted
/// connection by a worker of its own, until the process ends. Direct
/// clients together are one VM for `quotas`: past `max_clients` a
/// connection is refused ([`refuse`]).
pub fn spawn_with_quotas(
    path: &Path,
    force: bool,
    sessions: Sessions,
    access: &DirectAccess,
    quotas: Quotas,
) -> std::io::Result<()> {
    if force
        && std::fs::symlink_metadata(path).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        })
    {
        std::fs::remove_file(path)?;
    }
    // Restricted before anyone can connect; every peer then also meets
    // the credential check below.
    let (listener, ()) =
        crate::unix_socket::bind_restricted(path, 128, |p| restrict(p, access.group)).map_err(
            |e| {
                std::io::Error::new(
                    e.source.kind(),
                    format!("direct socket {}: {}", e.what, e.source),
                )
            },
        )?;
    tracing::info!(socket = %path.display(), ?access, "direct socket transport listening");
    let access = access.clone();
    let registry = ClientRegistry::with_quotas(quotas);
    std::thread::Builder::new()
        .name("vgpu-direct".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        let cred = peer_cred(&stream);
                        if !cred.is_some_and(|c| access.admits(c.uid, c.gid)) {
                            tracing::warn!(?cred, "direct socket peer refused");
                            continue;
                        }
                        let id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
                        if let Err(error) = start_client(id, stream, &sessions, &registry) {
                            tracing::error!(client = id, %error, "cannot start a client worker");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "accept failed"),
                }
            }
        })?;
    Ok(())
}

/// Starts the worker of one connection.
fn start_client(
    id: u32,
    stream: UnixStream,
    sessions: &Sessions,
    registry: &Arc<ClientRegistry>,
) -> std::io::Result<()> {
    let page = Arc::new(ClientPage::new()?);
    let guard = match registry.try_join(id, page.clone()) {
        Ok(guard) => guard,
        Err(full) => {
            tracing::warn!(
                client = id,
                max_clients = full.max_clients,
                "client limit reached; direct connection refused"
            );
            std::thread::Builder::new()
                .name("vgpu-direct-refuse".into())
                .spawn(move || refuse(stream))?;
            return Ok(());
        }
    };
    match sessions {
        Sessions::Threads(executor) => {
            let executor = executor.clone();
            let registry = registry.clone();
            std::thread::Builder::new()
                .name(format!("vgpu-direct-{id}"))
                .spawn(move || {
                    let _guard = guard;
                    match Session::open(executor.as_ref(), page, Directory::Local(registry, id)) {
                        Ok(mut session) => serve(id, stream, &mut session),
                        Err(status) => {
                            tracing::warn!(client = id, ?status, "cannot open a session")
                        }
                    }
                })?;
        }
        Sessions::Processes(launcher) => {
            let setup = Setup {
                index: id,
                role: Role::Direct,
                spec: launcher.spec,
                max_transfer: 0,
                memory_limit: launcher.memory_limit.unwrap_or(0),
                command_timeout_ms: launcher.command_timeout_ms(),
                queue_poll_max_us: launcher.queue_poll_max_us(),
            };
            let fds = [page.file().as_raw_fd(), stream.as_raw_fd()];
            let worker =
                ProcessWorker::spawn(launcher, &setup, &fds, &[], guard, Box::new(|_| {}))?;
            tracing::info!(
                client = id,
                worker_pid = worker.pid(),
                "direct client handed to its worker"
            );
            // The worker ends with the connection; its supervisor reaps it.
            worker.detach();
        }
    }
    Ok(())
}

/// How long a refused client has to send its first request.
const REFUSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers a connection past the client limit: its first request (the
/// guest library's `GetDeviceInfo` at cuInit) completes with
/// [`Status::Busy`], then the connection is closed. The library reports
/// `CUDA_ERROR_DEVICE_UNAVAILABLE`, as NVIDIA's driver does for a GPU that
/// takes no more contexts (exclusive-process mode).
pub fn refuse(mut stream: UnixStream) {
    let _ = stream.set_read_timeout(Some(REFUSE_WAIT));
    let mut head = RequestFrame::default();
    if !matches!(
        read_exact_or_eof(&mut stream, head.as_bytes_mut()),
        Ok(true)
    ) {
        return;
    }
    // Read what the frame carries (bounded), so that closing does not
    // reset the connection before the client reads the answer.
    let mut left = u64::from(head.req_len.min(MAX_FRAME_PAYLOAD));
    let mut sink = [0u8; 4096];
    while left > 0 {
        let n = left.min(sink.len() as u64) as usize;
        if !matches!(read_exact_or_eof(&mut stream, &mut sink[..n]), Ok(true)) {
            return;
        }
        left -= n as u64;
    }
    let frame = ResponseFrame {
        status: Status::Busy as u32,
        resp_len: 0,
    };
    let _ = stream.write_all(frame.as_bytes());
}

/// Mode 0600, or 0660 with group `group`.
fn restrict(path: &Path, group: Option<u32>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The connecting process's credentials, if the kernel will say.
fn peer_cred(stream: &UnixStream) -> Option<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = core::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid out-pointers of the sizes given,
    // and the fd is the live socket `stream` owns.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred)
}

/// The connecting process's pid (0 if the kernel will not say).
fn peer_pid(stream: &UnixStream) -> u32 {
    peer_cred(stream).map_or(0, |c| u32::try_from(c.pid).unwrap_or(0))
}

fn read_exact_or_eof(stream: &mut UnixStream, buf: &mut [u8]) -> std::io::Result<bool> {
    match stream.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Most descriptors one frame may carry (an attach frame's three).
const MAX_FRAME_FDS: usize = 4;

/// Reads a frame header, taking any descriptors sent with its first byte
/// (only an attach frame has some; others' are closed). `None` at EOF.
fn read_head(
    stream: &mut UnixStream,
    head: &mut RequestFrame,
) -> std::io::Result<Option<Vec<std::fs::File>>> {
    use std::os::fd::FromRawFd;
    use vmm_sys_util::sock_ctrl_msg::ScmSocket;
    let buf = head.as_bytes_mut();
    let mut raw = [-1; MAX_FRAME_FDS];
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    }];
    // SAFETY: the iovec covers `head`, a plain integer struct that any
    // bytes may fill, and outlives the call.
    let (got, count) = unsafe { stream.recv_with_fds(&mut iov, &mut raw) }
        .map_err(|e| std::io::Error::from_raw_os_error(e.errno()))?;
    let files = raw[..count]
        .iter()
        // SAFETY: each descriptor was just received and is owned by us.
        .map(|&fd| unsafe { std::fs::File::from_raw_fd(fd) })
        .collect();
    if got == 0 {
        return Ok(None);
    }
    if !read_exact_or_eof(stream, &mut head.as_bytes_mut()[got..])? {
        return Ok(None);
    }
    Ok(Some(files))
}

/// What one request (a frame or a ring entry) completes with: its status
/// and response body, `None` when detached (nobody reads it).
pub(crate) fn run_request(
    session: &mut Session,
    cancel: &CancelToken,
    opcode: u16,
    request: &[u8],
    resp_capacity: u32,
    detached: bool,
) -> Option<(Status, Vec<u8>)> {
    let outcome = Command::decode(opcode, request, u64::from(resp_capacity))
        .and_then(|c| session.execute(c, cancel));
    if detached {
        return None;
    }
    Some(match outcome {
        Ok(body) if body.len() > resp_capacity as usize => (Status::ResponseTooSmall, body),
        Ok(body) => (Status::Ok, body),
        Err(status) => (status, Vec::new()),
    })
}

fn write_response(stream: &mut UnixStream, status: Status, body: &[u8]) -> std::io::Result<()> {
    let ok = status == Status::Ok;
    let frame = ResponseFrame {
        status: status as u32,
        resp_len: if ok { body.len() as u32 } else { 0 },
    };
    stream.write_all(frame.as_bytes())?;
    if ok {
        stream.write_all(body)?;
    }
    Ok(())
}

/// Serves one client until it disconnects; the caller drops its session
/// (and every object it created) then. A client that attaches shared memory
/// is served from then on by [`shm::serve`].
pub fn serve(id: u32, mut stream: UnixStream, session: &mut Session) {
    let cancel = CancelToken::new();
    let pid = peer_pid(&stream);
    if let Err(status) = session.execute(Command::SetClientIdentity { pid }, &cancel) {
        tracing::warn!(client = id, ?status, "cannot record the client's identity");
    }
    tracing::info!(client = id, pid, "direct client connected");
    let mut request = Vec::new();
    let mut socket_bytes = 0u64;
    loop {
        let mut head = RequestFrame::default();
        let files = match read_head(&mut stream, &mut head) {
            Ok(Some(files)) => files,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(client = id, %error, "read failed");
                break;
            }
        };
        if head.req_len > MAX_FRAME_PAYLOAD || head.resp_capacity > MAX_FRAME_PAYLOAD {
            // The stream cannot be trusted past a frame we will not read.
            tracing::warn!(
                client = id,
                req_len = head.req_len,
                "oversized frame; closing"
            );
            break;
        }
        request.resize(head.req_len as usize, 0);
        if !matches!(read_exact_or_eof(&mut stream, &mut request), Ok(true)) {
            break;
        }
        socket_bytes += u64::from(head.req_len);
        if head.flags == frame_flags::SHM_ATTACH && head.reserved == 0 {
            match shm::attach(&request, files) {
                Ok(attached) => {
                    if write_response(&mut stream, Status::Ok, &[]).is_err() {
                        break;
                    }
                    tracing::info!(
                        client = id,
                        socket_bytes,
                        "shared-memory transport attached"
                    );
                    shm::serve(id, stream, attached, session, &cancel);
                    return;
                }
                Err(error) => {
                    tracing::warn!(client = id, %error, "shared-memory attach refused");
                    if write_response(&mut stream, Status::InvalidField, &[]).is_err() {
                        break;
                    }
                    continue;
                }
            }
        }
        drop(files);
        let detached = head.flags & frame_flags::DETACHED != 0;
        let reply = if head.reserved != 0 || head.flags & !frame_flags::DETACHED != 0 {
            (!detached).then_some((Status::InvalidField, Vec::new()))
        } else {
            run_request(
                session,
                &cancel,
                head.opcode,
                &request,
                head.resp_capacity,
                detached,
            )
        };
        let Some((status, body)) = reply else {
            continue;
        };
        if status == Status::Ok {
            socket_bytes += body.len() as u64;
        }
        if write_response(&mut stream, status, &body).is_err() {
            break;
        }
    }
    tracing::info!(client = id, socket_bytes, "direct client disconnected");
}
