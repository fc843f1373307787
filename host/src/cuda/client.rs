//! One client's CUDA command stream: decodes and validates each request,
//! calls the backend, encodes the response, and keeps CUDA's error rules.
//!
//! Asynchronous commands (launches, `*Async` copies and memsets, event
//! records, stream waits) have no response; an error they hit is kept and
//! returned by the client's next command that has one, as CUDA reports
//! asynchronous errors at the next synchronising call. Launch faults
//! (`ILLEGAL_ADDRESS`, `LAUNCH_FAILED`) are sticky: every later command with
//! a response fails with them, as in a CUDA context after such a fault.

mod pool;

use super::backend::{CuResult, CudaBackend};
use core::mem::size_of;
use uapi::cuda::{
    command, copy_flags, copy_kind, op, result, AddressRangeResponse, Copy2dRequest, CopyRequest,
    CtxCreateRequest, CtxRequest, DeviceRequest, ElapsedRequest, ElapsedResponse,
    EventCreateRequest, EventRequest, FuncAttributesResponse, FuncSetAttributeRequest,
    FunctionRequest, FunctionResponse, GlobalResponse, HandleResponse, LaunchAttribute,
    LaunchExRequest, LaunchRequest, LimitRequest, MemAllocRequest, MemInfoResponse, MemsetRequest,
    ModuleLoadRequest, ModuleRequest, OccupancyRequest, PtrRequest, ResultHeader, StageRequest,
    StreamCreateRequest, StreamEventRequest, StreamRequest, Submission, SymbolRequest,
    TensorMapEncodeRequest, TensorMapReplaceRequest, TensorMapResponse, ValueResponse,
    FUNC_ATTRIBUTE_COUNT, MAX_LAUNCH_ATTRIBUTES, MAX_NAME, MAX_PARAM_BYTES, MAX_STAGED_IMAGE,
    MAX_TENSOR_RANK,
};
use uapi::status::Status;
use uapi::wire::Wire;

/// Splits a request into its fixed struct and the bytes after it.
fn split<T: Wire>(request: &[u8]) -> Result<(T, &[u8]), Status> {
    let head = T::read_from(request).ok_or(Status::InvalidField)?;
    Ok((head, &request[core::mem::size_of::<T>()..]))
}

/// A request that is exactly `T`.
fn exact<T: Wire>(request: &[u8]) -> Result<T, Status> {
    let (head, tail) = split::<T>(request)?;
    if tail.is_empty() {
        Ok(head)
    } else {
        Err(Status::InvalidField)
    }
}

fn name(tail: &[u8]) -> Result<&str, Status> {
    if tail.is_empty() || tail.len() > MAX_NAME as usize || tail.contains(&0) {
        return Err(Status::InvalidField);
    }
    core::str::from_utf8(tail).map_err(|_| Status::InvalidField)
}

fn header(result: u32) -> Vec<u8> {
    ResultHeader {
        result,
        reserved: 0,
    }
    .as_bytes()
    .to_vec()
}

fn code<T>(r: &CuResult<T>) -> u32 {
    match r {
        Ok(_) => result::SUCCESS,
        Err(e) => *e,
    }
}

fn value_response(r: CuResult<u64>) -> Vec<u8> {
    ValueResponse {
        result: code(&r),
        reserved: 0,
        value: r.unwrap_or(0),
    }
    .as_bytes()
    .to_vec()
}

/// A LAUNCH_EX request's parts: the fixed struct, its attributes (each id
/// one a launch may carry) and the parameter bytes.
fn launch_ex_parts(
    request: &[u8],
) -> Result<(LaunchExRequest, Vec<LaunchAttribute>, &[u8]), Status> {
    let (r, tail) = split::<LaunchExRequest>(request)?;
    if r.attr_count > MAX_LAUNCH_ATTRIBUTES
        || r.reserved != 0
        || r.launch.param_bytes > MAX_PARAM_BYTES
    {
        return Err(Status::InvalidField);
    }
    let attr_bytes = r.attr_count as usize * size_of::<LaunchAttribute>();
    if tail.len() != attr_bytes + r.launch.param_bytes as usize {
        return Err(Status::InvalidField);
    }
    let (attr_tail, params) = tail.split_at(attr_bytes);
    let attrs: Vec<LaunchAttribute> = attr_tail
        .chunks_exact(size_of::<LaunchAttribute>())
        .filter_map(LaunchAttribute::read_from)
        .collect();
    if attrs
        .iter()
        .any(|a| a.reserved != 0 || !uapi::cuda::launch_attribute::is_carried(a.id))
    {
        return Err(Status::InvalidField);
    }
    Ok((r, attrs, params))
}

fn tensor_map_response(r: CuResult<[u64; uapi::cuda::TENSOR_MAP_WORDS]>) -> Vec<u8> {
    TensorMapResponse {
        result: code(&r),
        reserved: 0,
        map: r.unwrap_or_default(),
    }
    .as_bytes()
    .to_vec()
}

fn handle_response(r: CuResult<u64>) -> Vec<u8> {
    HandleResponse {
        result: code(&r),
        reserved: 0,
        handle: r.unwrap_or(0),
    }
    .as_bytes()
    .to_vec()
}

/// Size of the fixed part of `opcode`'s response. Error responses are padded
/// to it with zeros, so a reader can always decode the struct and look at
/// its result first.
fn fixed_response_size(opcode: u16) -> usize {
    command(opcode).map_or(size_of::<ResultHeader>(), |c| c.response_size)
}

/// Whether an error poisons the client for good.
fn is_sticky(code: u32) -> bool {
    matches!(
        code,
        result::ILLEGAL_ADDRESS | result::LAUNCH_FAILED | result::LAUNCH_TIMEOUT
    )
}

/// The CUDA side of one client.
pub struct CudaClient {
    backend: Box<dyn CudaBackend>,
    /// First error of an asynchronous command since the last report.
    deferred: Option<u32>,
    /// A fault that ends the client's usefulness.
    sticky: Option<u32>,
    /// A module image arriving in pieces (MODULE_STAGE).
    staged: Vec<u8>,
}

/// What a decoded command needs: an answer, or nothing (asynchronous).
enum Outcome {
    Response(Vec<u8>),
    Async(CuResult<()>),
}

impl CudaClient {
    /// Wraps a backend.
    pub fn new(backend: Box<dyn CudaBackend>) -> Self {
        Self {
            backend,
            deferred: None,
            sticky: None,
            staged: Vec::new(),
        }
    }

    /// Device memory the client holds.
    pub fn memory_used(&self) -> u64 {
        self.backend.memory_used()
    }

    /// Runs one CUDA command; `resp_capacity` bounds DTOH-style responses.
    /// Malformed requests complete with a device status, never reach the backend.
    pub fn execute(
        &mut self,
        opcode: u16,
        request: &[u8],
        resp_capacity: usize,
    ) -> Result<Vec<u8>, Status> {
        // Errors owed to the client are reported by its next command with a
        // response, which does not run (CUDA reports them instead of running it).
        // A command submitted without room for a response (detached) is
        // treated like asynchronous work: its error is owed too.
        let has_response = !self.is_async(opcode, request) && resp_capacity > 0;
        if has_response {
            if let Some(code) = self.sticky.or_else(|| self.deferred.take()) {
                // Still validate the request so malformed ones are reported as such.
                self.decode_only(opcode, request)?;
                let mut out = header(code);
                out.resize(fixed_response_size(opcode), 0);
                return Ok(out);
            }
        } else if let Some(code) = self.sticky {
            tracing::debug!(opcode, code, "asynchronous command skipped after a fault");
            return Ok(Vec::new());
        }
        let outcome = match self.run(opcode, request, resp_capacity)? {
            Outcome::Response(bytes) if !has_response => {
                let code = ResultHeader::read_from(&bytes).map_or(result::SUCCESS, |h| h.result);
                Outcome::Async(if code == result::SUCCESS {
                    Ok(())
                } else {
                    Err(code)
                })
            }
            other => other,
        };
        match outcome {
            Outcome::Response(mut bytes) => {
                let fixed = fixed_response_size(opcode);
                if bytes.len() < fixed {
                    bytes.resize(fixed, 0);
                }
                Ok(bytes)
            }
            Outcome::Async(r) => {
                if let Err(code) = r {
                    tracing::debug!(opcode, code, "asynchronous command failed");
                    if is_sticky(code) {
                        self.sticky = Some(code);
                    } else if self.deferred.is_none() {
                        self.deferred = Some(code);
                    }
                }
                Ok(Vec::new())
            }
        }
    }

    fn is_async(&self, opcode: u16, request: &[u8]) -> bool {
        match command(opcode).map(|c| c.submission) {
            Some(Submission::Detached) => true,
            Some(Submission::DetachedIfAsync) => {
                let flags = match opcode {
                    op::MEMSET => MemsetRequest::read_from(request).map(|r| r.flags),
                    op::MEMCPY_2D => Copy2dRequest::read_from(request).map(|r| r.flags),
                    _ => CopyRequest::read_from(request).map(|r| r.flags),
                };
                flags.is_some_and(|f| f & copy_flags::ASYNC != 0)
            }
            Some(Submission::Call) | None => false,
        }
    }

    fn decode_only(&self, opcode: u16, request: &[u8]) -> Result<(), Status> {
        let ok = match opcode {
            op::CTX_CREATE => exact::<CtxCreateRequest>(request).map(drop),
            op::CTX_DESTROY | op::CTX_SYNCHRONIZE | op::MEM_GET_INFO => {
                exact::<CtxRequest>(request).map(drop)
            }
            op::PRIMARY_CTX_RETAIN
            | op::PRIMARY_CTX_RELEASE
            | op::PRIMARY_CTX_RESET
            | op::DEVICE_GET_ATTRIBUTES => exact::<DeviceRequest>(request).map(drop),
            op::MEM_ALLOC => exact::<MemAllocRequest>(request).map(drop),
            op::MEM_FREE | op::MEM_GET_ADDRESS_RANGE => exact::<PtrRequest>(request).map(drop),
            op::MEMCPY_HTOD | op::MEMCPY_DTOH | op::MEMCPY_DTOD => {
                split::<CopyRequest>(request).map(drop)
            }
            op::MEMSET => exact::<MemsetRequest>(request).map(drop),
            op::MEMCPY_2D => split::<Copy2dRequest>(request).map(drop),
            op::MODULE_LOAD => split::<ModuleLoadRequest>(request).map(drop),
            op::MODULE_STAGE => split::<StageRequest>(request).map(drop),
            op::MODULE_UNLOAD => exact::<ModuleRequest>(request).map(drop),
            op::MODULE_GET_FUNCTION | op::MODULE_GET_GLOBAL => {
                split::<SymbolRequest>(request).map(drop)
            }
            op::LAUNCH => split::<LaunchRequest>(request).map(drop),
            op::STREAM_CREATE => exact::<StreamCreateRequest>(request).map(drop),
            op::STREAM_DESTROY | op::STREAM_SYNCHRONIZE | op::STREAM_QUERY => {
                exact::<StreamRequest>(request).map(drop)
            }
            op::STREAM_WAIT_EVENT | op::EVENT_RECORD => {
                exact::<StreamEventRequest>(request).map(drop)
            }
            op::EVENT_CREATE => exact::<EventCreateRequest>(request).map(drop),
            op::EVENT_DESTROY | op::EVENT_QUERY | op::EVENT_SYNCHRONIZE => {
                exact::<EventRequest>(request).map(drop)
            }
            op::EVENT_ELAPSED_TIME => exact::<ElapsedRequest>(request).map(drop),
            op::FUNC_GET_ATTRIBUTES => exact::<FunctionRequest>(request).map(drop),
            op::FUNC_SET_ATTRIBUTE => exact::<FuncSetAttributeRequest>(request).map(drop),
            op::OCCUPANCY => exact::<OccupancyRequest>(request).map(drop),
            op::CTX_GET_LIMIT | op::CTX_SET_LIMIT => exact::<LimitRequest>(request).map(drop),
            op::LAUNCH_EX => launch_ex_parts(request).map(drop),
            op::TENSOR_MAP_ENCODE_TILED => exact::<TensorMapEncodeRequest>(request).map(drop),
            op::TENSOR_MAP_REPLACE_ADDRESS => exact::<TensorMapReplaceRequest>(request).map(drop),
            _ => pool::decode(opcode, request).unwrap_or(Err(Status::InvalidOpcode)),
        };
        ok
    }

    fn run(
        &mut self,
        opcode: u16,
        request: &[u8],
        resp_capacity: usize,
    ) -> Result<Outcome, Status> {
        use Outcome::{Async, Response};
        let b = &mut self.backend;
        Ok(match opcode {
            op::CTX_CREATE => {
                let r = exact::<CtxCreateRequest>(request)?;
                Response(handle_response(b.ctx_create(r.flags, r.device)))
            }
            op::CTX_DESTROY => {
                let r = exact::<CtxRequest>(request)?;
                Response(header(code(&b.ctx_destroy(r.ctx))))
            }
            op::CTX_SYNCHRONIZE => {
                let r = exact::<CtxRequest>(request)?;
                Response(header(code(&b.ctx_synchronize(r.ctx))))
            }
            op::PRIMARY_CTX_RETAIN => {
                let r = exact::<DeviceRequest>(request)?;
                Response(handle_response(b.primary_ctx_retain(r.device)))
            }
            op::PRIMARY_CTX_RELEASE => {
                let r = exact::<DeviceRequest>(request)?;
                Response(header(code(&b.primary_ctx_release(r.device))))
            }
            op::PRIMARY_CTX_RESET => {
                let r = exact::<DeviceRequest>(request)?;
                let outcome = b.primary_ctx_reset(r.device);
                if outcome.is_ok() {
                    // A reset context starts clean.
                    self.sticky = None;
                    self.deferred = None;
                }
                Response(header(code(&outcome)))
            }
            op::DEVICE_GET_ATTRIBUTES => {
                let r = exact::<DeviceRequest>(request)?;
                match b.device_attributes(r.device) {
                    Ok(values) => {
                        let mut out = header(result::SUCCESS);
                        values
                            .iter()
                            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                        Response(out)
                    }
                    Err(e) => Response(header(e)),
                }
            }
            op::MEM_GET_INFO => {
                let r = exact::<CtxRequest>(request)?;
                let got = b.mem_get_info(r.ctx);
                let (free, total) = got.unwrap_or((0, 0));
                Response(
                    MemInfoResponse {
                        result: code(&got),
                        reserved: 0,
                        free,
                        total,
                    }
                    .as_bytes()
                    .to_vec(),
                )
            }
            op::MEM_ALLOC => {
                let r = exact::<MemAllocRequest>(request)?;
                let got = if r.size == 0 {
                    Err(result::INVALID_VALUE)
                } else {
                    b.mem_alloc(r.ctx, r.size)
                };
                Response(handle_response(got))
            }
            op::MEM_FREE => {
                let r = exact::<PtrRequest>(request)?;
                Response(header(code(&b.mem_free(r.ctx, r.dptr))))
            }
            op::MEM_GET_ADDRESS_RANGE => {
                let r = exact::<PtrRequest>(request)?;
                let got = b.mem_get_address_range(r.ctx, r.dptr);
                let (base, size) = got.unwrap_or((0, 0));
                Response(
                    AddressRangeResponse {
                        result: code(&got),
                        reserved: 0,
                        base,
                        size,
                    }
                    .as_bytes()
                    .to_vec(),
                )
            }
            op::MEMCPY_HTOD => {
                let (r, data) = split::<CopyRequest>(request)?;
                if data.len() as u64 != r.len
                    || r.flags & !copy_flags::ASYNC != 0
                    || r.reserved != 0
                {
                    return Err(Status::InvalidField);
                }
                let is_async = r.flags & copy_flags::ASYNC != 0;
                let got = b.memcpy_htod(r.ctx, r.stream, r.dst, data, is_async);
                if is_async {
                    Async(got)
                } else {
                    Response(header(code(&got)))
                }
            }
            op::MEMCPY_DTOH => {
                let r = exact::<CopyRequest>(request)?;
                if r.flags != 0 || r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                let len = usize::try_from(r.len).map_err(|_| Status::TooLarge)?;
                let total = len.checked_add(8).ok_or(Status::TooLarge)?;
                if total > resp_capacity {
                    return Err(Status::ResponseTooSmall);
                }
                let mut out = header(result::SUCCESS);
                out.resize(total, 0);
                match b.memcpy_dtoh(r.ctx, r.stream, r.src, &mut out[8..]) {
                    Ok(()) => Response(out),
                    Err(e) => Response(header(e)),
                }
            }
            op::MEMCPY_DTOD => {
                let r = exact::<CopyRequest>(request)?;
                if r.flags & !copy_flags::ASYNC != 0 || r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                let is_async = r.flags & copy_flags::ASYNC != 0;
                let got = b.memcpy_dtod(r.ctx, r.stream, r.dst, r.src, r.len, is_async);
                if is_async {
                    Async(got)
                } else {
                    Response(header(code(&got)))
                }
            }
            op::MEMSET => {
                let r = exact::<MemsetRequest>(request)?;
                if r.flags & !copy_flags::ASYNC != 0 || r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                let got = Self::check_memset(&r).and_then(|()| b.memset(&r));
                if r.flags & copy_flags::ASYNC != 0 {
                    Async(got)
                } else {
                    Response(header(code(&got)))
                }
            }
            op::MEMCPY_2D => {
                let (r, tail) = split::<Copy2dRequest>(request)?;
                let rows = r.width.checked_mul(r.height).ok_or(Status::TooLarge)?;
                let rows = usize::try_from(rows).map_err(|_| Status::TooLarge)?;
                let (input, out_len) = match r.kind {
                    copy_kind::HTOD if tail.len() == rows => (tail, 0),
                    copy_kind::DTOH if tail.is_empty() => (tail, rows),
                    copy_kind::DTOD if tail.is_empty() => (tail, 0),
                    _ => return Err(Status::InvalidField),
                };
                if r.flags & !copy_flags::ASYNC != 0 || (r.kind == copy_kind::DTOH && r.flags != 0)
                {
                    return Err(Status::InvalidField);
                }
                if out_len + 8 > resp_capacity {
                    return Err(Status::ResponseTooSmall);
                }
                let mut out = header(result::SUCCESS);
                out.resize(out_len + 8, 0);
                let got = Self::check_2d(&r).and_then(|()| b.memcpy_2d(&r, input, &mut out[8..]));
                match got {
                    Ok(()) if r.flags & copy_flags::ASYNC != 0 => Async(Ok(())),
                    Ok(()) => Response(out),
                    Err(e) if r.flags & copy_flags::ASYNC != 0 => Async(Err(e)),
                    Err(e) => Response(header(e)),
                }
            }
            op::MODULE_LOAD => {
                let (r, image) = split::<ModuleLoadRequest>(request)?;
                if image.len() as u64 != r.image_len {
                    return Err(Status::InvalidField);
                }
                let got = match (image.is_empty(), self.staged.is_empty()) {
                    (false, _) => b.module_load(r.ctx, image),
                    (true, false) => {
                        let staged = std::mem::take(&mut self.staged);
                        b.module_load(r.ctx, &staged)
                    }
                    (true, true) => Err(result::INVALID_VALUE),
                };
                Response(handle_response(got))
            }
            op::MODULE_STAGE => {
                let (r, bytes) = split::<StageRequest>(request)?;
                let end = r.offset.checked_add(bytes.len() as u64);
                Async(if r.offset != self.staged.len() as u64 {
                    // Pieces arrive in order on one queue; anything else is a
                    // confused client: start over.
                    self.staged.clear();
                    Err(result::INVALID_VALUE)
                } else if end.is_none_or(|e| e > MAX_STAGED_IMAGE)
                    || self.staged.try_reserve(bytes.len()).is_err()
                {
                    self.staged.clear();
                    Err(result::OUT_OF_MEMORY)
                } else {
                    self.staged.extend_from_slice(bytes);
                    Ok(())
                })
            }
            op::MODULE_UNLOAD => {
                let r = exact::<ModuleRequest>(request)?;
                Response(header(code(&b.module_unload(r.ctx, r.module))))
            }
            op::MODULE_GET_FUNCTION => {
                let (r, tail) = split::<SymbolRequest>(request)?;
                if tail.len() != r.name_len as usize || r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                let name = name(tail)?;
                match b.module_get_function(r.ctx, r.module, name) {
                    Ok((function, layout)) => {
                        let mut out = FunctionResponse {
                            result: result::SUCCESS,
                            param_count: layout.len() as u32,
                            function,
                        }
                        .as_bytes()
                        .to_vec();
                        layout
                            .iter()
                            .for_each(|p| out.extend_from_slice(p.as_bytes()));
                        if out.len() > resp_capacity {
                            return Err(Status::ResponseTooSmall);
                        }
                        Response(out)
                    }
                    Err(e) => Response(header(e)),
                }
            }
            op::MODULE_GET_GLOBAL => {
                let (r, tail) = split::<SymbolRequest>(request)?;
                if tail.len() != r.name_len as usize || r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                let name = name(tail)?;
                let got = b.module_get_global(r.ctx, r.module, name);
                let (dptr, size) = got.unwrap_or((0, 0));
                Response(
                    GlobalResponse {
                        result: code(&got),
                        reserved: 0,
                        dptr,
                        size,
                    }
                    .as_bytes()
                    .to_vec(),
                )
            }
            op::LAUNCH => {
                let (r, params) = split::<LaunchRequest>(request)?;
                if params.len() != r.param_bytes as usize || r.param_bytes > MAX_PARAM_BYTES {
                    return Err(Status::InvalidField);
                }
                Async(
                    Self::check_launch(b.as_ref(), &r, params).and_then(|()| b.launch(&r, params)),
                )
            }
            op::STREAM_CREATE => {
                let r = exact::<StreamCreateRequest>(request)?;
                Response(handle_response(b.stream_create(r.ctx, r.flags, r.priority)))
            }
            op::STREAM_DESTROY => {
                let r = exact::<StreamRequest>(request)?;
                Response(header(code(&b.stream_destroy(r.ctx, r.stream))))
            }
            op::STREAM_SYNCHRONIZE => {
                let r = exact::<StreamRequest>(request)?;
                Response(header(code(&b.stream_synchronize(r.ctx, r.stream))))
            }
            op::STREAM_QUERY => {
                let r = exact::<StreamRequest>(request)?;
                Response(header(code(&b.stream_query(r.ctx, r.stream))))
            }
            op::STREAM_WAIT_EVENT => {
                let r = exact::<StreamEventRequest>(request)?;
                if r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                Async(b.stream_wait_event(r.ctx, r.stream, r.event, r.flags))
            }
            op::EVENT_CREATE => {
                let r = exact::<EventCreateRequest>(request)?;
                Response(handle_response(b.event_create(r.ctx, r.flags)))
            }
            op::EVENT_DESTROY => {
                let r = exact::<EventRequest>(request)?;
                Response(header(code(&b.event_destroy(r.ctx, r.event))))
            }
            op::EVENT_RECORD => {
                let r = exact::<StreamEventRequest>(request)?;
                if r.reserved != 0 || r.flags != 0 {
                    return Err(Status::InvalidField);
                }
                Async(b.event_record(r.ctx, r.event, r.stream))
            }
            op::EVENT_QUERY => {
                let r = exact::<EventRequest>(request)?;
                Response(header(code(&b.event_query(r.ctx, r.event))))
            }
            op::EVENT_SYNCHRONIZE => {
                let r = exact::<EventRequest>(request)?;
                Response(header(code(&b.event_synchronize(r.ctx, r.event))))
            }
            op::EVENT_ELAPSED_TIME => {
                let r = exact::<ElapsedRequest>(request)?;
                let got = b.event_elapsed_time(r.ctx, r.start, r.end);
                Response(
                    ElapsedResponse {
                        result: code(&got),
                        millis_bits: got.map(f32::to_bits).unwrap_or(0),
                    }
                    .as_bytes()
                    .to_vec(),
                )
            }
            op::FUNC_GET_ATTRIBUTES => {
                let r = exact::<FunctionRequest>(request)?;
                let got = b.func_get_attributes(r.ctx, r.function);
                Response(
                    FuncAttributesResponse {
                        result: code(&got),
                        count: FUNC_ATTRIBUTE_COUNT as u32,
                        values: got.unwrap_or_default(),
                    }
                    .as_bytes()
                    .to_vec(),
                )
            }
            op::FUNC_SET_ATTRIBUTE => {
                let r = exact::<FuncSetAttributeRequest>(request)?;
                Response(header(code(&b.func_set_attribute(
                    r.ctx,
                    r.function,
                    r.attribute,
                    r.value,
                ))))
            }
            op::OCCUPANCY => {
                let r = exact::<OccupancyRequest>(request)?;
                if r.reserved != 0 {
                    return Err(Status::InvalidField);
                }
                Response(value_response(b.occupancy(&r)))
            }
            op::CTX_GET_LIMIT => {
                let r = exact::<LimitRequest>(request)?;
                Response(value_response(b.ctx_get_limit(r.ctx, r.limit)))
            }
            op::CTX_SET_LIMIT => {
                let r = exact::<LimitRequest>(request)?;
                Response(header(code(&b.ctx_set_limit(r.ctx, r.limit, r.value))))
            }
            op::LAUNCH_EX => {
                let (r, attrs, params) = launch_ex_parts(request)?;
                Async(
                    Self::check_launch(b.as_ref(), &r.launch, params)
                        .and_then(|()| b.launch_ex(&r.launch, &attrs, params)),
                )
            }
            op::TENSOR_MAP_ENCODE_TILED => {
                let r = exact::<TensorMapEncodeRequest>(request)?;
                let got = if (1..=MAX_TENSOR_RANK as u32).contains(&r.rank) {
                    b.tensor_map_encode_tiled(&r)
                } else {
                    Err(result::INVALID_VALUE)
                };
                Response(tensor_map_response(got))
            }
            op::TENSOR_MAP_REPLACE_ADDRESS => {
                let r = exact::<TensorMapReplaceRequest>(request)?;
                let got = b.tensor_map_replace_address(r.ctx, &r.map, r.global_address);
                Response(tensor_map_response(got))
            }
            _ => {
                return pool::run(b.as_mut(), opcode, request).unwrap_or(Err(Status::InvalidOpcode))
            }
        })
    }

    fn check_memset(r: &MemsetRequest) -> CuResult<()> {
        let elem = u64::from(r.elem_size);
        if !matches!(r.elem_size, 1 | 2 | 4) || r.height == 0 {
            return Err(result::INVALID_VALUE);
        }
        let row = r.width.checked_mul(elem).ok_or(result::INVALID_VALUE)?;
        if r.height > 1 && r.pitch < row {
            return Err(result::INVALID_VALUE);
        }
        if !r.dst.is_multiple_of(elem) {
            return Err(result::INVALID_VALUE);
        }
        Ok(())
    }

    fn check_2d(r: &Copy2dRequest) -> CuResult<()> {
        if r.height > 1
            && ((r.kind != copy_kind::DTOH && r.dst_pitch < r.width)
                || (r.kind != copy_kind::HTOD && r.src_pitch < r.width))
        {
            return Err(result::INVALID_VALUE);
        }
        Ok(())
    }

    fn check_launch(b: &dyn CudaBackend, r: &LaunchRequest, params: &[u8]) -> CuResult<()> {
        let layout = b
            .function_layout(r.function)
            .ok_or(result::INVALID_HANDLE)?;
        let end = layout
            .iter()
            .map(|p| u64::from(p.offset) + u64::from(p.size))
            .max()
            .unwrap_or(0);
        if params.len() as u64 != end {
            return Err(result::INVALID_VALUE);
        }
        if r.grid.contains(&0) || r.block.contains(&0) {
            return Err(result::INVALID_VALUE);
        }
        Ok(())
    }
}
