//! The per-process client: one transport and the batch of detached
//! commands in front of it.
//!
//! Asynchronous work (launches, `*Async` copies and memsets, event records,
//! stream waits) goes out without a round trip. Where submitting is a
//! system call it is appended to a batch, which goes out, one SUBMIT per up
//! to [`MAX_BATCH`] commands, before any command that waits for a response
//! (sharing that command's submit), whenever it is full, and once its
//! oldest command has waited the transport's delay (`flusher.rs`); on the
//! shared-memory rings each command goes out at once ([`Batching`]). The
//! device keeps the errors of detached commands and returns them with the
//! client's next response, which is how a synchronising call reports them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use uapi::{
    cuda::{result, CudaCommand, ResultHeader, Submission},
    ioctl::MAX_BATCH,
    status::Status,
    wire::Wire,
};

use super::CuResult;
use crate::transport::{
    Batching, DataPath, DataRequest, DevError, HostBlock, Request, Transport, TransportInfo,
    WaitMode,
};

/// Most data calls in flight at once (within the transport's pin limit).
const DATA_WINDOW: usize = 8;

/// The guest's page size: the unit the driver pins in.
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n)
            .ok()
            .filter(|n| n.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Where the bulk data of one call of [`Client::call_pipelined_data`] is.
pub(crate) enum Data<'a> {
    /// Sent after the request struct.
    In(&'a [u8]),
    /// Filled from the response after its struct.
    Out(&'a mut [u8]),
}

/// A detached command waiting in the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    pub opcode: u16,
    pub body: Vec<u8>,
}

/// A command that waits for its response.
#[derive(Debug, Clone)]
struct Call {
    opcode: u16,
    body: Vec<u8>,
    resp_capacity: usize,
}

/// Transport failures as `CUresult`s: a device or host that went away is
/// `DEVICE_UNAVAILABLE`, anything else `UNKNOWN`.
pub(crate) fn transport_error(e: DevError) -> u32 {
    tracing::warn!("vgpu transport: {e}");
    match e.errno {
        libc::ENODEV | libc::EIO | libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => {
            result::DEVICE_UNAVAILABLE
        }
        libc::ENOMEM => result::OUT_OF_MEMORY,
        _ => result::UNKNOWN,
    }
}

/// A completion's device status as a `CUresult`.
pub(crate) fn status_error(status: u32) -> u32 {
    match Status::from_u32(status) {
        Some(Status::Ok) => result::SUCCESS,
        Some(Status::InvalidField | Status::TooLarge | Status::BadAddress) => result::INVALID_VALUE,
        Some(Status::Aborted | Status::BadRingIndex) => result::DEVICE_UNAVAILABLE,
        _ => result::UNKNOWN,
    }
}

/// The transport and the batch (always used under the state lock).
pub(crate) struct Client {
    transport: Box<dyn Transport>,
    batch: Vec<Pending>,
    info: TransportInfo,
    data_path: Option<DataPath>,
    /// Host ranges the transport keeps pinned (`cuMemHostAlloc`,
    /// `cuMemHostRegister`): base to length.
    pinned_host: BTreeMap<usize, usize>,
    batching: Batching,
    /// When the oldest command of `batch` was queued.
    batch_since: Option<Instant>,
    /// The transport error of a batch the flush thread submitted, for the
    /// next submit to report.
    deferred_error: Option<u32>,
}

/// `CU_CTX_SCHED_*`: the scheduling bits of context flags.
const SCHED_MASK: u32 = 0x07;
const SCHED_SPIN: u32 = 0x01;
const SCHED_YIELD: u32 = 0x02;
const SCHED_BLOCKING_SYNC: u32 = 0x04;

/// How waits go with `CU_CTX_SCHED_AUTO`. NVIDIA's driver spins while a
/// process has no more contexts than CPUs; here the device's worker needs
/// a core of its own too, so spin from 4 CPUs up, else sleep early.
pub(crate) fn auto_wait_mode() -> WaitMode {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus >= 4 {
        WaitMode::Spin
    } else {
        WaitMode::Adaptive
    }
}

/// How waits go for a context made with `flags`: spin (and yield, which
/// we treat as spin) poll until done, blocking sync sleeps, auto decides.
pub(crate) fn wait_mode_for(flags: u32) -> WaitMode {
    match flags & SCHED_MASK {
        SCHED_SPIN | SCHED_YIELD => WaitMode::Spin,
        SCHED_BLOCKING_SYNC => WaitMode::Adaptive,
        _ => auto_wait_mode(),
    }
}

impl Client {
    /// Wraps a transport, asking it for identity and limits.
    pub fn new(mut transport: Box<dyn Transport>) -> Result<Self, DevError> {
        transport.set_wait_mode(auto_wait_mode());
        let info = transport.describe()?;
        let data_path = transport.data_path();
        let batching = transport.batching();
        Ok(Self {
            transport,
            batch: Vec::new(),
            info,
            data_path,
            pinned_host: BTreeMap::new(),
            batching,
            batch_since: None,
            deferred_error: None,
        })
    }

    /// How waits go from now on (the latest context's scheduling flags).
    pub fn set_wait_mode(&mut self, mode: WaitMode) {
        self.transport.set_wait_mode(mode);
    }

    /// Asks the transport to keep pinned host memory pinned, so that
    /// copies from it go by pointer without pinning, asynchronously too.
    /// Best effort: memory it cannot pin is copied as pageable memory is.
    /// Whether it is pinned now.
    pub fn pin_host(&mut self, addr: usize, len: usize) -> bool {
        if self.data_path.is_none() || len == 0 {
            return false;
        }
        match self.transport.pin_host(addr, len) {
            Ok(true) => {
                self.pinned_host.insert(addr, len);
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!("pinned host memory stays pageable: {e}");
                false
            }
        }
    }

    /// Ends [`Self::pin_host`] of the range at `addr`, if it was pinned.
    /// Commands in flight keep their pages until they complete.
    pub fn unpin_host(&mut self, addr: usize) {
        if let Some(len) = self.pinned_host.remove(&addr) {
            if let Err(e) = self.transport.unpin_host(addr, len) {
                tracing::warn!("unpinning host memory: {e}");
            }
        }
    }

    /// Whether `data` lies in one range the transport keeps pinned.
    pub fn is_pinned_host(&self, data: &[u8]) -> bool {
        let addr = data.as_ptr() as usize;
        self.pinned_host
            .range(..=addr)
            .next_back()
            .is_some_and(|(&base, &len)| addr + data.len() <= base + len)
    }

    /// Queues command `C` detached once per `(request, data)`, each data
    /// by pointer (at most the data chunk). Only for data in pinned host
    /// memory ([`Self::is_pinned_host`]): nothing waits for these commands,
    /// and the device reads the pages whenever it runs them, as CUDA's
    /// asynchronous copies from pinned memory do.
    pub fn push_pinned_data<C: CudaCommand>(&mut self, calls: &[(C::Request, &[u8])]) -> CuResult {
        debug_assert!(C::SUBMISSION != Submission::Call, "a call has a response");
        if calls.iter().any(|(_, d)| !self.is_pinned_host(d)) {
            return Err(result::INVALID_VALUE);
        }
        // Queued detached work goes first: the device runs in order.
        self.flush()?;
        for group in calls.chunks(MAX_BATCH as usize) {
            let reqs: Vec<DataRequest<'_>> = group
                .iter()
                .map(|(req, data)| DataRequest {
                    opcode: C::OPCODE,
                    body: req.as_bytes(),
                    data,
                    resp_capacity: 0,
                    resp_data: std::ptr::null_mut(),
                    resp_data_len: 0,
                })
                .collect();
            // SAFETY: every data slice lies in a range the transport pinned
            // (checked above) and keeps pinned while commands use it.
            unsafe { self.transport.submit_data_detached(&reqs) }.map_err(transport_error)?;
        }
        Ok(())
    }

    /// Chunk size for copies whose data can go by pointer (not copied on
    /// the way), if the transport offers that for copies of `len` bytes.
    pub fn data_chunk(&self, len: usize) -> Option<usize> {
        let p = self.data_path?;
        let chunk = (p.max_data as u64).min(p.pin_limit) as usize & !0xfff;
        (len >= p.min_pinned as usize && chunk >= p.min_pinned as usize).then_some(chunk)
    }

    /// Pinned host memory the device copies from and to in place, if the
    /// transport has it ([`Transport::host_alloc`]).
    pub fn host_alloc(&mut self, len: usize) -> Option<Result<HostBlock, u32>> {
        Some(self.transport.host_alloc(len)?.map_err(transport_error))
    }

    /// Frees a [`Self::host_alloc`] block once the work queued before
    /// (which may use it) is done.
    pub fn host_free(&mut self, block: HostBlock) -> CuResult {
        self.flush()?;
        self.transport.host_free(block).map_err(transport_error)
    }

    /// Identity and limits.
    pub fn info(&self) -> &TransportInfo {
        &self.info
    }

    /// Largest request or response body of one command.
    pub fn max_payload(&self) -> usize {
        self.info.max_payload as usize
    }

    /// Most variable-length bytes command `C` carries in one go: the
    /// payload limit less the larger of its request and response structs.
    pub fn max_tail<C: CudaCommand>(&self) -> usize {
        let fixed = core::mem::size_of::<C::Request>().max(core::mem::size_of::<C::Response>());
        self.max_payload().saturating_sub(fixed)
    }

    /// Queues a detached command: submits it at once, or appends it to the
    /// batch and submits that when it is full or its oldest command is due
    /// ([`Batching`]).
    fn push_async(&mut self, opcode: u16, body: Vec<u8>) -> CuResult {
        if body.len() > self.max_payload() {
            return Err(result::INVALID_VALUE);
        }
        self.batch.push(Pending { opcode, body });
        let due = match self.batching {
            Batching::Immediate => true,
            Batching::After(delay) => match self.batch_since {
                Some(since) => since.elapsed() >= delay,
                None => {
                    self.batch_since = Some(Instant::now());
                    super::flusher::arm(delay);
                    false
                }
            },
            Batching::UntilSync => false,
        };
        if due || self.batch.len() >= MAX_BATCH as usize {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues a detached, empty-bodied command of `opcode` (tests).
    #[cfg(test)]
    pub fn push_async_for_test(&mut self, opcode: u16) {
        self.push_async(opcode, Vec::new()).unwrap();
    }

    /// Submits every batched command.
    pub fn flush(&mut self) -> CuResult {
        self.submit_with(&[]).map(|_| ())
    }

    /// For the flush thread: submits the batch if its oldest command has
    /// waited the delay, keeping a transport error for the next submit;
    /// otherwise how much longer it may wait (`None`: no batch).
    pub fn flush_due(&mut self) -> Option<Duration> {
        let Batching::After(delay) = self.batching else {
            return None;
        };
        let waited = self.batch_since?.elapsed();
        if waited < delay {
            return Some(delay - waited);
        }
        if let Err(e) = self.flush() {
            self.deferred_error.get_or_insert(e);
        }
        None
    }

    /// Submits the batch followed by `calls` (batch first, in order, at most
    /// [`MAX_BATCH`] per submit); returns the calls' tickets. A transport
    /// error of a batch submitted by the flush thread is returned instead,
    /// once.
    fn submit_with(&mut self, calls: &[Call]) -> CuResult<Vec<u64>> {
        if let Some(e) = self.deferred_error.take() {
            return Err(e);
        }
        self.batch_since = None;
        let batch = std::mem::take(&mut self.batch);
        let mut reqs: Vec<Request<'_>> = batch
            .iter()
            .map(|p| Request {
                opcode: p.opcode,
                body: &p.body,
                resp_capacity: 0,
                detached: true,
            })
            .collect();
        reqs.extend(calls.iter().map(|c| Request {
            opcode: c.opcode,
            body: &c.body,
            resp_capacity: u32::try_from(c.resp_capacity).unwrap_or(u32::MAX),
            detached: false,
        }));
        let mut tickets = Vec::with_capacity(calls.len());
        for chunk in reqs.chunks(MAX_BATCH as usize) {
            tickets.extend(self.transport.submit(chunk).map_err(transport_error)?);
        }
        Ok(tickets)
    }

    fn collect(&mut self, ticket: u64, capacity: usize) -> CuResult<Vec<u8>> {
        self.collect_len(ticket, capacity).map(|(resp, _)| resp)
    }

    /// [`Self::collect`], also returning the whole response length the
    /// device reported (data written past `capacity` included).
    fn collect_len(&mut self, ticket: u64, capacity: usize) -> CuResult<(Vec<u8>, usize)> {
        let mut resp = vec![0u8; capacity.max(core::mem::size_of::<ResultHeader>())];
        let c = self
            .transport
            .wait(ticket, &mut resp)
            .map_err(transport_error)?;
        if c.status != Status::Ok as u32 {
            tracing::warn!("device status {} for a CUDA command", c.status);
            return Err(status_error(c.status));
        }
        resp.truncate((c.resp_len as usize).min(resp.len()));
        let h = ResultHeader::read_from(&resp).ok_or(result::UNKNOWN)?;
        if h.result != result::SUCCESS {
            return Err(h.result);
        }
        Ok((resp, c.resp_len as usize))
    }

    /// Calls of command `C` whose bulk data goes by pointer (needs
    /// [`Self::data_chunk`]), several in flight. Each call's data is at most
    /// the chunk; `each` gets the call's index, its response struct and the
    /// response data bytes written into its [`Data::Out`]. Every submitted
    /// call is collected even after an error; the first error is returned.
    ///
    /// `Ok(false)` when the driver would not pin a call's pages (`ENOMEM`:
    /// the caller's `RLIMIT_MEMLOCK` or the client's pin limit, which other
    /// pinned memory of the process shares): nothing from that call on was
    /// sent, and the caller copies the data another way, as NVIDIA's
    /// driver never fails a pageable copy for want of locked memory.
    pub fn call_pipelined_data<C: CudaCommand>(
        &mut self,
        mut calls: Vec<(C::Request, Data<'_>)>,
        mut each: impl FnMut(usize, &C::Response, usize) -> CuResult,
    ) -> CuResult<bool> {
        let path = self.data_path.ok_or(result::NOT_SUPPORTED)?;
        let chunk = calls.iter().map(|(_, d)| match d {
            Data::In(d) => d.len(),
            Data::Out(d) => d.len(),
        });
        let largest = chunk.max().unwrap_or(0).max(1);
        if largest > path.max_data as usize {
            return Err(result::INVALID_VALUE);
        }
        // What the calls in flight pin: whole pages, one more than their
        // length where it is not page-aligned.
        let pinned = (largest.div_ceil(page_size()) + 1) * page_size();
        let window = usize::try_from(path.pin_limit / pinned as u64)
            .unwrap_or(usize::MAX)
            .clamp(1, DATA_WINDOW);
        // Queued detached work goes first: the device runs in order.
        self.flush()?;
        let fixed = core::mem::size_of::<C::Response>();
        let mut first_err = None;
        let mut not_pinned = false;
        // A sliding window: more calls go out whenever half of it is free,
        // so the device never waits for the caller's collecting.
        let mut inflight = std::collections::VecDeque::with_capacity(window);
        let (mut next, mut idx) = (0, 0);
        while idx < calls.len() {
            let room = window - inflight.len();
            if first_err.is_none() && !not_pinned && next < calls.len() && room * 2 >= window {
                // The first call goes out alone, so that the device starts
                // on its data while the driver pins and describes the rest
                // (each call's list is built before any of its submit is
                // posted).
                let alone = next == 0 && calls.len() > 1 && window > 1;
                let end = if alone {
                    1
                } else {
                    (next + room).min(calls.len())
                };
                let reqs: Vec<DataRequest<'_>> = calls[next..end]
                    .iter_mut()
                    .map(|(req, data)| {
                        let (data, resp_data, resp_data_len) = match data {
                            Data::In(d) => (*d, std::ptr::null_mut(), 0),
                            Data::Out(d) => (&[][..], d.as_mut_ptr(), d.len() as u32),
                        };
                        DataRequest {
                            opcode: C::OPCODE,
                            body: req.as_bytes(),
                            data,
                            resp_capacity: fixed as u32,
                            resp_data,
                            resp_data_len,
                        }
                    })
                    .collect();
                // SAFETY: `calls` borrows every data slice (the `Out` ones
                // mutably) for this whole function, and every ticket is
                // waited for below before the return.
                match unsafe { self.transport.submit_data(&reqs) } {
                    Ok(t) => {
                        inflight.extend(t);
                        next = end;
                        if alone {
                            continue;
                        }
                    }
                    Err(e) if e.errno == libc::ENOMEM => {
                        tracing::debug!("vgpu transport: pages not pinned ({e}); copied instead");
                        not_pinned = true;
                    }
                    Err(e) => {
                        first_err = Some(transport_error(e));
                    }
                }
            }
            let Some(t) = inflight.pop_front() else {
                break;
            };
            match self.collect_len(t, fixed) {
                Ok((r, len)) if first_err.is_none() => {
                    let resp = C::Response::read_from(&r).ok_or(result::UNKNOWN);
                    if let Err(e) =
                        resp.and_then(|resp| each(idx, &resp, len.saturating_sub(fixed)))
                    {
                        first_err = Some(e);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            idx += 1;
        }
        if not_pinned && first_err.is_none() {
            // The caller copies it all instead (the calls done are redone).
            return Ok(false);
        }
        first_err.map_or(Ok(true), Err)
    }

    /// Calls command `C` with `req` followed by `tail`, allowing `resp_tail`
    /// bytes after its response struct; returns the struct and those bytes.
    pub fn call_cmd<C: CudaCommand>(
        &mut self,
        req: &C::Request,
        tail: &[u8],
        resp_tail: usize,
    ) -> CuResult<(C::Response, Vec<u8>)> {
        debug_assert!(
            C::SUBMISSION != Submission::Detached,
            "a detached command has no response"
        );
        debug_assert!(
            C::REQUEST_TAIL || tail.is_empty(),
            "no tail follows this request"
        );
        let mut body = req.as_bytes().to_vec();
        body.extend_from_slice(tail);
        let fixed = core::mem::size_of::<C::Response>();
        let mut r = self.call(C::OPCODE, &body, fixed + resp_tail)?;
        // The device always answers at least the struct (zero-padded on an
        // error); anything shorter is a broken device.
        let resp = C::Response::read_from(&r).ok_or(result::UNKNOWN)?;
        Ok((resp, r.split_off(fixed)))
    }

    /// Queues command `C` (detached) with `req` followed by `tail`.
    pub fn push_cmd<C: CudaCommand>(&mut self, req: &C::Request, tail: &[u8]) -> CuResult {
        debug_assert!(
            C::SUBMISSION != Submission::Call,
            "a call has a response to collect"
        );
        let mut body = req.as_bytes().to_vec();
        body.extend_from_slice(tail);
        self.push_async(C::OPCODE, body)
    }

    /// Submits the batch and one command, waits for its response; returns
    /// the response (starting with the [`ResultHeader`]) or its `CUresult`.
    fn call(&mut self, opcode: u16, body: &[u8], resp_capacity: usize) -> CuResult<Vec<u8>> {
        if body.len() > self.max_payload() {
            return Err(result::INVALID_VALUE);
        }
        let call = Call {
            opcode,
            body: body.to_vec(),
            resp_capacity,
        };
        let t = self.submit_with(std::slice::from_ref(&call))?;
        self.collect(t[0], resp_capacity)
    }

    /// Several calls of command `C` in flight at once (windows of
    /// `window`): each `(request, resp_tail)` allows `resp_tail` bytes after
    /// the response struct, and `each` gets the call's index, the struct and
    /// those bytes, in order. Every submitted call is collected even after
    /// an error; the first error is returned.
    pub fn call_pipelined_cmd<C: CudaCommand>(
        &mut self,
        calls: impl IntoIterator<Item = (C::Request, usize)>,
        window: usize,
        mut each: impl FnMut(usize, &C::Response, &[u8]) -> CuResult,
    ) -> CuResult {
        debug_assert!(
            C::SUBMISSION != Submission::Detached,
            "a detached command has no response"
        );
        let fixed = core::mem::size_of::<C::Response>();
        let calls: Vec<Call> = calls
            .into_iter()
            .map(|(req, resp_tail)| Call {
                opcode: C::OPCODE,
                body: req.as_bytes().to_vec(),
                resp_capacity: fixed + resp_tail,
            })
            .collect();
        self.call_pipelined(calls, window, |i, r| {
            let resp = C::Response::read_from(r).ok_or(result::UNKNOWN)?;
            each(i, &resp, &r[fixed.min(r.len())..])
        })
    }

    /// Several calls in flight at once (windows of `window`), each response
    /// handed to `each` in order. Every submitted call is collected even
    /// after an error; the first error is returned.
    fn call_pipelined(
        &mut self,
        calls: Vec<Call>,
        window: usize,
        mut each: impl FnMut(usize, &[u8]) -> CuResult,
    ) -> CuResult {
        let mut first_err = None;
        let mut idx = 0;
        for group in calls.chunks(window.clamp(1, MAX_BATCH as usize)) {
            let tickets = match self.submit_with(group) {
                Ok(t) => t,
                Err(e) => return Err(first_err.unwrap_or(e)),
            };
            for (t, c) in tickets.into_iter().zip(group) {
                match self.collect(t, c.resp_capacity) {
                    Ok(r) if first_err.is_none() => {
                        if let Err(e) = each(idx, &r) {
                            first_err = Some(e);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
                idx += 1;
            }
            if first_err.is_some() {
                break;
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
