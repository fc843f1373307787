//! Stream capture, as CUDA defines it per stream and per thread. The
//! device records what a capturing stream is given (it captures relaxed);
//! the guest knows which thread began each capture and in which mode, so it
//! answers the status queries locally and applies the mode rules: a
//! "potentially unsafe" call (allocation, synchronous copies and memsets,
//! context synchronisation) from a thread that a global or thread-local
//! capture constrains fails with `STREAM_CAPTURE_UNSUPPORTED` and
//! invalidates that capture; so do host-memory copies, host functions and
//! synchronising a capturing stream. Streams join a capture by waiting on
//! an event recorded in it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};

use uapi::cuda::{
    capture_mode, capture_status, cmds, result, CaptureBeginRequest, CaptureDepsRequest,
    CaptureEndRequest, StreamRequest, END_CAPTURE_DISCARD,
};

use super::{with_state, CuResult, Obj, State, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD};
use crate::driver::abi::{InOut, Out};

thread_local! {
    /// This thread's capture interaction mode (`cuThreadExchangeStreamCaptureMode`).
    static MODE: Cell<u32> = const { Cell::new(capture_mode::GLOBAL) };
}

fn thread_id() -> u64 {
    // SAFETY: a plain system call without arguments.
    unsafe { libc::gettid() as u64 }
}

#[derive(Debug, Clone)]
struct Capture {
    /// Guest stream the capture began on.
    origin: u64,
    mode: u32,
    /// Thread that began it.
    thread: u64,
    invalidated: bool,
}

/// Every capture in progress in the process.
#[derive(Debug, Default)]
pub(crate) struct Captures {
    /// Guest stream → capture id.
    streams: BTreeMap<u64, u64>,
    /// Capture id → capture.
    active: BTreeMap<u64, Capture>,
    /// Guest event last recorded in a capture → capture id.
    events: BTreeMap<u64, u64>,
    /// Dependencies handed out by `cuStreamGetCaptureInfo_v2/v3`, per
    /// stream (valid until the next call on the stream, as in CUDA), with
    /// their (zero) edge data.
    handed_out: BTreeMap<u64, (Vec<u64>, Vec<u64>)>,
}

impl Captures {
    pub const fn new() -> Self {
        Self {
            streams: BTreeMap::new(),
            active: BTreeMap::new(),
            events: BTreeMap::new(),
            handed_out: BTreeMap::new(),
        }
    }

    /// The capture `stream` (a guest stream) takes part in.
    fn of(&self, stream: u64) -> Option<(u64, &Capture)> {
        let id = *self.streams.get(&stream)?;
        self.active.get(&id).map(|c| (id, c))
    }

    fn invalidate(&mut self, id: u64) {
        if let Some(c) = self.active.get_mut(&id) {
            c.invalidated = true;
        }
    }

    /// Whether `stream` is capturing (so its work is recorded, not run).
    pub fn is_capturing(&self, stream: u64) -> bool {
        self.streams.contains_key(&stream)
    }

    /// Fails work on a capturing stream that cannot be captured, and
    /// invalidates the capture.
    pub fn refuse(&mut self, stream: u64) -> CuResult {
        match self.streams.get(&stream).copied() {
            Some(id) => {
                self.invalidate(id);
                Err(result::STREAM_CAPTURE_UNSUPPORTED)
            }
            None => Ok(()),
        }
    }

    /// The mode rules for a potentially unsafe call from this thread:
    /// which captures forbid it, by the thread's mode.
    pub fn check_unsafe(&mut self) -> CuResult {
        if self.active.is_empty() {
            return Ok(());
        }
        let (me, mode) = (thread_id(), MODE.with(Cell::get));
        let forbidding: Vec<u64> = self
            .active
            .iter()
            .filter(|(_, c)| match mode {
                capture_mode::RELAXED => false,
                capture_mode::THREAD_LOCAL => c.thread == me && c.mode != capture_mode::RELAXED,
                _ => {
                    (c.thread == me && c.mode != capture_mode::RELAXED)
                        || (c.thread != me && c.mode == capture_mode::GLOBAL)
                }
            })
            .map(|(id, _)| *id)
            .collect();
        if forbidding.is_empty() {
            return Ok(());
        }
        forbidding.into_iter().for_each(|id| self.invalidate(id));
        Err(result::STREAM_CAPTURE_UNSUPPORTED)
    }

    /// An event recorded on `stream`: in a capture it stands for the
    /// capture's work so far; elsewhere it is a plain event again.
    pub fn event_recorded(&mut self, event: u64, stream: u64) {
        match self.streams.get(&stream) {
            Some(id) => {
                self.events.insert(event, *id);
            }
            None => {
                self.events.remove(&event);
            }
        }
    }

    /// `stream` waits on `event`: an event of a capture joins the stream to it.
    pub fn stream_waits(&mut self, stream: u64, event: u64) -> CuResult {
        let Some(id) = self.events.get(&event).copied() else {
            return Ok(());
        };
        if !self.active.contains_key(&id) {
            return Ok(());
        }
        match self.streams.get(&stream) {
            Some(other) if *other != id => Err(result::STREAM_CAPTURE_MERGE),
            _ => {
                self.streams.insert(stream, id);
                Ok(())
            }
        }
    }

    /// `CUDA_ERROR_CAPTURED_EVENT` for an event last recorded in a capture
    /// still in progress.
    pub fn check_event(&self, event: u64) -> CuResult {
        match self.events.get(&event) {
            Some(id) if self.active.contains_key(id) => Err(result::CAPTURED_EVENT),
            _ => Ok(()),
        }
    }

    /// A destroyed stream leaves its capture (which can no longer end well).
    pub fn forget_stream(&mut self, stream: u64) {
        if let Some(id) = self.streams.remove(&stream) {
            self.invalidate(id);
        }
        self.handed_out.remove(&stream);
    }
}

/// The device's handle and wire context of a created stream; the default
/// streams cannot be captured.
fn capturable(s: &State, stream: u64) -> CuResult<(u64, u64)> {
    match stream {
        0 | CU_STREAM_LEGACY | CU_STREAM_PER_THREAD => Err(result::STREAM_CAPTURE_UNSUPPORTED),
        h => match s.objects.get(&h) {
            Some(Obj::Stream { host, ctx, .. }) => Ok((*host, *ctx)),
            _ => Err(result::INVALID_HANDLE),
        },
    }
}

/// A valid stream (default ones included): `Ok` or `INVALID_HANDLE`.
fn known_stream(s: &State, stream: u64) -> CuResult {
    match stream {
        0 | CU_STREAM_LEGACY | CU_STREAM_PER_THREAD => s.current().map(drop),
        h => match s.objects.get(&h) {
            Some(Obj::Stream { .. }) => Ok(()),
            _ => Err(result::INVALID_HANDLE),
        },
    }
}

/// `cuStreamBeginCapture` (CUDA 10.0 ABI: global mode).
pub(crate) fn stream_begin_capture(stream: *mut c_void) -> CuResult {
    stream_begin_capture_v2(stream, capture_mode::GLOBAL as c_int)
}

/// `cuStreamBeginCapture_v2`.
pub(crate) fn stream_begin_capture_v2(stream: *mut c_void, mode: c_int) -> CuResult {
    with_state(|s| {
        let mode = u32::try_from(mode)
            .ok()
            .filter(|m| *m <= capture_mode::RELAXED)
            .ok_or(result::INVALID_VALUE)?;
        let h = stream as u64;
        let (host, ctx) = capturable(s, h)?;
        if s.captures.is_capturing(h) {
            return Err(result::ILLEGAL_STATE);
        }
        let req = CaptureBeginRequest {
            ctx,
            stream: host,
            mode,
            reserved: 0,
        };
        let id = s
            .client()?
            .call_cmd::<cmds::StreamBeginCapture>(&req, &[], 0)?
            .0
            .value;
        s.captures.streams.insert(h, id);
        s.captures.active.insert(
            id,
            Capture {
                origin: h,
                mode,
                thread: thread_id(),
                invalidated: false,
            },
        );
        Ok(())
    })
}

/// `cuStreamEndCapture`: the graph, or NULL with the reason the capture failed.
pub(crate) fn stream_end_capture(stream: *mut c_void, graph: Out<'_, *mut c_void>) -> CuResult {
    with_state(|s| {
        let graph = graph.get()?;
        graph.write(std::ptr::null_mut());
        let h = stream as u64;
        let (host, ctx) = capturable(s, h)?;
        let (id, c) = match s.captures.of(h) {
            Some((id, c)) => (id, c.clone()),
            None => return Err(result::ILLEGAL_STATE),
        };
        if c.origin != h {
            return Err(result::STREAM_CAPTURE_UNMATCHED);
        }
        if c.mode != capture_mode::RELAXED && c.thread != thread_id() {
            return Err(result::STREAM_CAPTURE_WRONG_THREAD);
        }
        let req = CaptureEndRequest {
            ctx,
            stream: host,
            flags: if c.invalidated {
                END_CAPTURE_DISCARD
            } else {
                0
            },
            reserved: 0,
        };
        let got = s.client()?.call_cmd::<cmds::StreamEndCapture>(&req, &[], 0);
        let cap = &mut s.captures;
        let members: Vec<u64> = cap
            .streams
            .iter()
            .filter(|(_, i)| **i == id)
            .map(|(st, _)| *st)
            .collect();
        for st in members {
            cap.streams.remove(&st);
            cap.handed_out.remove(&st);
        }
        cap.events.retain(|_, i| *i != id);
        cap.active.remove(&id);
        graph.write(got?.0.handle as *mut c_void);
        Ok(())
    })
}

/// The status of a stream's capture (`CUstreamCaptureStatus`) and its id.
fn status_of(s: &State, stream: u64) -> CuResult<(c_int, u64)> {
    known_stream(s, stream)?;
    Ok(match s.captures.of(stream) {
        Some((id, c)) if c.invalidated => (capture_status::INVALIDATED as c_int, id),
        Some((id, _)) => (capture_status::ACTIVE as c_int, id),
        None => (capture_status::NONE as c_int, 0),
    })
}

pub(crate) fn stream_is_capturing(stream: *mut c_void, status: Out<'_, c_int>) -> CuResult {
    with_state(|s| {
        let status = status.get()?;
        status.write(status_of(s, stream as u64)?.0);
        Ok(())
    })
}

/// `cuStreamGetCaptureInfo` (CUDA 10.1 ABI): status and id.
pub(crate) fn stream_get_capture_info(
    stream: *mut c_void,
    status: Out<'_, c_int>,
    id: Out<'_, u64>,
) -> CuResult {
    with_state(|s| {
        let status = status.get()?;
        let (st, i) = status_of(s, stream as u64)?;
        status.write(st);
        id.write_optional(i);
        Ok(())
    })
}

/// `cuStreamGetCaptureInfo_v2` (CUDA 11.3 ABI): also graph and dependencies.
pub(crate) unsafe fn stream_get_capture_info_v2(
    stream: *mut c_void,
    status: Out<'_, c_int>,
    id: Out<'_, u64>,
    graph: *mut *mut c_void,
    deps: *mut *const c_void,
    num_deps: Out<'_, usize>,
) -> CuResult {
    // SAFETY: the C caller's out-pointers, as `_v3` takes them; no edge
    // data asked for.
    unsafe {
        stream_get_capture_info_v3(
            stream,
            status,
            id,
            graph,
            deps,
            std::ptr::null_mut(),
            num_deps,
        )
    }
}

/// `cuStreamGetCaptureInfo_v3` (CUDA 12.3 ABI; CUDA 13's unversioned one):
/// also the dependencies' edge data (always the default: zeros). The graph
/// and dependencies come from the device, only when asked for.
pub(crate) unsafe fn stream_get_capture_info_v3(
    stream: *mut c_void,
    status: Out<'_, c_int>,
    id: Out<'_, u64>,
    graph: *mut *mut c_void,
    deps: *mut *const c_void,
    edges: *mut *const c_void,
    num_deps: Out<'_, usize>,
) -> CuResult {
    with_state(|s| {
        let status = status.get()?;
        let h = stream as u64;
        let (st, i) = status_of(s, h)?;
        status.write(st);
        id.write_optional(i);
        let (mut g, mut list, mut edge_list, mut n) = (
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
            0usize,
        );
        let wants = !graph.is_null() || !deps.is_null() || !edges.is_null() || !num_deps.is_null();
        if st == capture_status::ACTIVE as c_int && wants {
            let (host, ctx) = capturable(s, h)?;
            let req = StreamRequest { ctx, stream: host };
            let c = s.client()?;
            let cap = c.max_tail::<cmds::StreamGetCaptureInfo>();
            let (info, tail) = c.call_cmd::<cmds::StreamGetCaptureInfo>(&req, &[], cap)?;
            let nodes: Vec<u64> = tail
                .chunks_exact(8)
                .take(info.dep_count as usize)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            g = info.graph as *mut c_void;
            n = nodes.len();
            let slot = s.captures.handed_out.entry(h).or_default();
            slot.1 = vec![0; n];
            slot.0 = nodes;
            if n > 0 {
                list = slot.0.as_ptr().cast();
                edge_list = slot.1.as_ptr().cast();
            }
        }
        // SAFETY: each non-NULL pointer is the caller's out-parameter.
        unsafe {
            if !graph.is_null() {
                *graph = g;
            }
            if !deps.is_null() {
                *deps = list;
            }
            if !edges.is_null() {
                *edges = edge_list;
            }
        }
        num_deps.write_optional(n);
        Ok(())
    })
}

/// `cuStreamUpdateCaptureDependencies` (CUDA 11.3 ABI).
pub(crate) unsafe fn stream_update_capture_dependencies(
    stream: *mut c_void,
    nodes: *const u64,
    n: usize,
    flags: u32,
) -> CuResult {
    if flags > uapi::cuda::CAPTURE_DEPS_SET || (n > 0 && nodes.is_null()) {
        return Err(result::INVALID_VALUE);
    }
    if n > uapi::cuda::MAX_GRAPH_DEPS as usize {
        return Err(result::NOT_SUPPORTED);
    }
    let list: &[u64] = if n == 0 {
        &[]
    } else {
        // SAFETY: the caller's array of `n` nodes.
        unsafe { std::slice::from_raw_parts(nodes, n) }
    };
    with_state(|s| {
        let h = stream as u64;
        let (host, ctx) = capturable(s, h)?;
        if !s.captures.is_capturing(h) {
            return Err(result::ILLEGAL_STATE);
        }
        let req = CaptureDepsRequest {
            ctx,
            stream: host,
            flags,
            count: n as u32,
        };
        let tail: Vec<u8> = list.iter().flat_map(|v| v.to_le_bytes()).collect();
        s.client()?
            .call_cmd::<cmds::StreamUpdateCaptureDeps>(&req, &tail, 0)
            .map(drop)
    })
}

/// `cuStreamUpdateCaptureDependencies_v2` (CUDA 12.3 ABI): only default
/// (all-zero) edge data is carried.
pub(crate) unsafe fn stream_update_capture_dependencies_v2(
    stream: *mut c_void,
    nodes: *const u64,
    edges: *const u64,
    n: usize,
    flags: u32,
) -> CuResult {
    // SAFETY: the caller's contract.
    unsafe { super::graph::default_edge_data_only(edges, n) }?;
    // SAFETY: the caller's contract.
    unsafe { stream_update_capture_dependencies(stream, nodes, n, flags) }
}

pub(crate) fn thread_exchange_stream_capture_mode(mode: InOut<'_, c_int>) -> CuResult {
    let mode = mode.get()?;
    let new = u32::try_from(*mode)
        .ok()
        .filter(|m| *m <= capture_mode::RELAXED)
        .ok_or(result::INVALID_VALUE)?;
    *mode = MODE.with(|m| m.replace(new)) as c_int;
    Ok(())
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
