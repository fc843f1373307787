//! The one `match` over [`CudaCall`]: what each decoded command asks of the
//! backend and what its response holds. Exhaustive, so a command declared in
//! uapi has to get an arm here before the host compiles.

use super::quota::Kind;
use super::{graph, header, vmm, CudaClient, Outcome};
use crate::cancel::CancelToken;
use crate::cuda::backend::{CuResult, CudaBackend};
use crate::cuda::call::{AddNode, Copy2d, CudaCall, LaunchEx};
use uapi::cuda::{
    copy_flags, copy_kind, pool_attr, result, AddressRangeResponse, Copy2dRequest, ElapsedResponse,
    FuncAttributesResponse, FunctionResponse, GlobalResponse, HandleResponse, LaunchRequest,
    MemInfoResponse, MemPoolValueResponse, MemsetRequest, TensorMapResponse, ValueResponse,
    CAPTURE_DEPS_SET, DEFAULT_POOL, END_CAPTURE_DISCARD, FUNC_ATTRIBUTE_COUNT, MAX_TENSOR_RANK,
    TENSOR_MAP_WORDS,
};
use uapi::status::Status;
use uapi::wire::Wire;

fn code<T>(r: &CuResult<T>) -> u32 {
    match r {
        Ok(_) => result::SUCCESS,
        Err(e) => *e,
    }
}

fn respond<T: Wire>(response: T) -> Outcome {
    Outcome::Response(response.as_bytes().to_vec())
}

fn status(r: CuResult<()>) -> Outcome {
    Outcome::Response(header(code(&r)))
}

fn handle(r: CuResult<u64>) -> Outcome {
    respond(HandleResponse {
        result: code(&r),
        reserved: 0,
        handle: r.unwrap_or(0),
    })
}

fn value(r: CuResult<u64>) -> Outcome {
    respond(ValueResponse {
        result: code(&r),
        reserved: 0,
        value: r.unwrap_or(0),
    })
}

fn tensor_map(r: CuResult<[u64; TENSOR_MAP_WORDS]>) -> Outcome {
    respond(TensorMapResponse {
        result: code(&r),
        reserved: 0,
        map: r.unwrap_or_default(),
    })
}

/// Detached if the request's flags say so, else answered.
fn maybe_async(flags: u32, r: CuResult<()>) -> Outcome {
    if flags & copy_flags::ASYNC != 0 {
        Outcome::Async(r)
    } else {
        status(r)
    }
}

fn nonzero(size: u64) -> CuResult<()> {
    if size == 0 {
        Err(result::INVALID_VALUE)
    } else {
        Ok(())
    }
}

/// The client's one pool, else `INVALID_VALUE`; a known attribute, else
/// `INVALID_VALUE` (NVIDIA's driver answers 0 and 9 so).
fn check_pool(pool: u64, attr: Option<u32>) -> CuResult<()> {
    if pool != DEFAULT_POOL || attr.is_some_and(|a| !pool_attr::is_known(a)) {
        Err(result::INVALID_VALUE)
    } else {
        Ok(())
    }
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

impl CudaClient {
    /// Runs one decoded command; `resp_capacity` bounds responses with a tail.
    pub(super) fn run(
        &mut self,
        call: CudaCall<'_>,
        resp_capacity: usize,
        cancel: &CancelToken,
    ) -> Result<Outcome, Status> {
        use CudaCall as C;
        use Outcome::{Async, Response};
        let b = &mut self.backend;
        let q = &mut self.quota;
        Ok(match call {
            C::CtxCreate((r, flags)) => handle(flags.and_then(|f| {
                q.admit(Kind::Contexts, b.object_counts())?;
                b.ctx_create(f, r.device)
            })),
            C::CtxDestroy(r) => status(b.ctx_destroy(r.ctx)),
            C::CtxSynchronize(r) => status(b.ctx_synchronize(r.ctx)),
            C::PrimaryCtxRetain(r) => handle(b.primary_ctx_retain(r.device)),
            C::PrimaryCtxRelease(r) => status(b.primary_ctx_release(r.device)),
            C::PrimaryCtxReset(r) => {
                let outcome = b.primary_ctx_reset(r.device);
                if outcome.is_ok() {
                    // A reset context starts clean.
                    self.sticky = None;
                    self.deferred = None;
                }
                status(outcome)
            }
            C::DeviceGetAttributes(r) => match b.device_attributes(r.device) {
                Ok(values) => {
                    let mut out = header(result::SUCCESS);
                    values
                        .iter()
                        .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                    Response(out)
                }
                Err(e) => Response(header(e)),
            },
            C::MemGetInfo(r) => {
                let got = b.mem_get_info(r.ctx).map(|(f, t)| q.mem_info(f, t));
                let (free, total) = got.unwrap_or((0, 0));
                respond(MemInfoResponse {
                    result: code(&got),
                    reserved: 0,
                    free,
                    total,
                })
            }
            C::MemAlloc(r) => handle(nonzero(r.size).and_then(|()| {
                q.admit_alloc(b.object_counts(), r.size)?;
                b.mem_alloc(r.ctx, r.size)
            })),
            C::MemFree(r) => status(b.mem_free(r.ctx, r.dptr)),
            C::MemGetAddressRange(r) => {
                let got = b.mem_get_address_range(r.ctx, r.dptr);
                let (base, size) = got.unwrap_or((0, 0));
                respond(AddressRangeResponse {
                    result: code(&got),
                    reserved: 0,
                    base,
                    size,
                })
            }
            C::MemcpyHtod((r, data)) => {
                let is_async = r.flags & copy_flags::ASYNC != 0;
                maybe_async(
                    r.flags,
                    b.memcpy_htod(r.ctx, r.stream, r.dst, data, is_async),
                )
            }
            C::MemcpyDtoh((r, len)) => {
                let total = len + 8;
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
            // Its bytes came through the socket or in the request copy:
            // no pages here to register. Still an error for a bad context.
            C::PrepareHost((r, _)) => status(b.mem_get_info(r.ctx).map(drop)),
            C::MemcpyDtod(r) => {
                let is_async = r.flags & copy_flags::ASYNC != 0;
                maybe_async(
                    r.flags,
                    b.memcpy_dtod(r.ctx, r.stream, r.dst, r.src, r.len, is_async),
                )
            }
            C::Memset(r) => maybe_async(r.flags, check_memset(&r).and_then(|()| b.memset(&r))),
            C::Memcpy2d(Copy2d {
                req,
                input,
                output_len,
            }) => {
                if output_len + 8 > resp_capacity {
                    return Err(Status::ResponseTooSmall);
                }
                let mut out = header(result::SUCCESS);
                out.resize(output_len + 8, 0);
                let got = check_2d(&req).and_then(|()| b.memcpy_2d(&req, input, &mut out[8..]));
                match got {
                    _ if req.flags & copy_flags::ASYNC != 0 => Async(got),
                    Ok(()) => Response(out),
                    Err(e) => Response(header(e)),
                }
            }
            C::ModuleLoad((r, image)) => handle(match q.admit(Kind::Modules, b.object_counts()) {
                Err(e) => {
                    // A staged image goes too: the client starts over.
                    self.staged.clear();
                    Err(e)
                }
                Ok(()) => match (image.is_empty(), self.staged.is_empty()) {
                    (false, _) => b.module_load(r.ctx, image),
                    (true, false) => self.staged.consume(|image| b.module_load(r.ctx, image)),
                    (true, true) => Err(result::INVALID_VALUE),
                },
            }),
            // Pieces arrive in order on one queue; anything else is a
            // confused client, which starts over.
            C::ModuleStage((r, bytes)) => Async(self.staged.append(r.offset, bytes)),
            C::ModuleUnload(r) => status(b.module_unload(r.ctx, r.module)),
            C::ModuleGetFunction((r, name)) => match q
                .admit(Kind::Functions, b.object_counts())
                .and_then(|()| b.module_get_function(r.ctx, r.module, name))
            {
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
            },
            C::ModuleGetGlobal((r, name)) => {
                let got = b.module_get_global(r.ctx, r.module, name);
                let (dptr, size) = got.unwrap_or((0, 0));
                respond(GlobalResponse {
                    result: code(&got),
                    reserved: 0,
                    dptr,
                    size,
                })
            }
            C::Launch((r, params)) => Async(
                check_launch(b.as_ref(), &r, params).and_then(|()| b.launch(&r, params, cancel)),
            ),
            C::LaunchEx(LaunchEx { req, attrs, params }) => Async(
                check_launch(b.as_ref(), &req.launch, params)
                    .and_then(|()| b.launch_ex(&req.launch, &attrs, params, cancel)),
            ),
            C::StreamCreate((r, flags)) => handle(flags.and_then(|f| {
                q.admit(Kind::Streams, b.object_counts())?;
                b.stream_create(r.ctx, f, r.priority)
            })),
            C::StreamDestroy(r) => status(b.stream_destroy(r.ctx, r.stream)),
            C::StreamSynchronize(r) => status(b.stream_synchronize(r.ctx, r.stream)),
            C::StreamQuery(r) => status(b.stream_query(r.ctx, r.stream)),
            C::StreamDriverValue(r) => value(b.stream_driver_value(r.ctx, r.stream)),
            C::StreamWaitEvent((r, flags)) => {
                Async(flags.and_then(|f| b.stream_wait_event(r.ctx, r.stream, r.event, f)))
            }
            C::EventCreate((r, flags)) => handle(flags.and_then(|f| {
                q.admit(Kind::Events, b.object_counts())?;
                b.event_create(r.ctx, f)
            })),
            C::EventDestroy(r) => status(b.event_destroy(r.ctx, r.event)),
            C::EventRecord(r) => Async(b.event_record(r.ctx, r.event, r.stream)),
            C::EventQuery(r) => status(b.event_query(r.ctx, r.event)),
            C::EventSynchronize(r) => status(b.event_synchronize(r.ctx, r.event)),
            C::EventElapsedTime(r) => {
                let got = b.event_elapsed_time(r.ctx, r.start, r.end);
                respond(ElapsedResponse {
                    result: code(&got),
                    millis_bits: got.map(f32::to_bits).unwrap_or(0),
                })
            }
            C::FuncGetAttributes(r) => {
                let got = b.func_get_attributes(r.ctx, r.function);
                respond(FuncAttributesResponse {
                    result: code(&got),
                    count: FUNC_ATTRIBUTE_COUNT as u32,
                    values: got.unwrap_or_default(),
                })
            }
            C::FuncSetAttribute((r, ok)) => status(
                ok.and_then(|()| b.func_set_attribute(r.ctx, r.function, r.attribute, r.value)),
            ),
            C::Occupancy((r, ok)) => value(ok.and_then(|()| b.occupancy(&r))),
            C::CtxGetLimit(r) => value(b.ctx_get_limit(r.ctx, r.limit)),
            C::CtxSetLimit((r, ok)) => {
                status(ok.and_then(|()| b.ctx_set_limit(r.ctx, r.limit, r.value)))
            }
            C::TensorMapEncodeTiled(r) => {
                tensor_map(if (1..=MAX_TENSOR_RANK as u32).contains(&r.rank) {
                    b.tensor_map_encode_tiled(&r)
                } else {
                    Err(result::INVALID_VALUE)
                })
            }
            C::TensorMapReplaceAddress(r) => {
                tensor_map(b.tensor_map_replace_address(r.ctx, &r.map, r.global_address))
            }
            C::MemAllocAsync(r) => handle(
                check_pool(r.pool, None)
                    .and_then(|()| nonzero(r.size))
                    .and_then(|()| q.admit_alloc(b.object_counts(), r.size))
                    .and_then(|()| b.mem_alloc_async(r.ctx, r.stream, r.size, r.pool)),
            ),
            C::MemFreeAsync(r) => Async(b.mem_free_async(r.ctx, r.stream, r.dptr)),
            C::MemPoolGetAttribute(r) => {
                let got = check_pool(r.pool, Some(r.attr))
                    .and_then(|()| b.mem_pool_get_attribute(r.ctx, r.pool, r.attr));
                respond(MemPoolValueResponse {
                    result: code(&got),
                    reserved: 0,
                    value: got.unwrap_or(0),
                })
            }
            C::MemPoolSetAttribute(r) => status(
                check_pool(r.pool, Some(r.attr))
                    .and_then(|()| b.mem_pool_set_attribute(r.ctx, r.pool, r.attr, r.value)),
            ),
            C::MemPoolTrimTo(r) => status(
                check_pool(r.pool, None).and_then(|()| b.mem_pool_trim_to(r.ctx, r.pool, r.value)),
            ),
            C::MemAddressReserve(r) => handle(
                vmm::check_reserve(&r)
                    .and_then(|()| b.mem_address_reserve(r.ctx, r.size, r.alignment, r.addr)),
            ),
            C::MemAddressFree(r) => status(
                vmm::check_range(r.ptr, r.size)
                    .and_then(|()| b.mem_address_free(r.ctx, r.ptr, r.size)),
            ),
            C::MemCreate(r) => handle(vmm::check_create(&r).and_then(|()| {
                q.admit_alloc(b.object_counts(), r.size)?;
                b.mem_create(r.ctx, r.size, &r.prop)
            })),
            C::MemRelease(r) => status(b.mem_release(r.ctx, r.handle)),
            C::MemMap(r) => status(
                vmm::check_map(&r)
                    .and_then(|()| b.mem_map(r.ctx, r.ptr, r.size, r.offset, r.handle)),
            ),
            C::MemUnmap(r) => status(
                vmm::check_range(r.ptr, r.size).and_then(|()| b.mem_unmap(r.ctx, r.ptr, r.size)),
            ),
            C::MemSetAccess(r) => status(
                vmm::check_range(r.ptr, r.size)
                    .and_then(|()| vmm::check_location(r.location_type, r.location_id))
                    .and_then(|()| vmm::check_access(r.flags))
                    .and_then(|()| b.mem_set_access(r.ctx, r.ptr, r.size, r.flags)),
            ),
            C::MemGetAccess(r) => value(
                vmm::check_location(r.location_type, r.location_id)
                    .and_then(|()| b.mem_get_access(r.ctx, r.ptr))
                    .map(u64::from),
            ),
            C::MemRetainAllocationHandle(r) => {
                handle(b.mem_retain_allocation_handle(r.ctx, r.dptr))
            }
            C::StreamBeginCapture(r) => value(b.stream_begin_capture(r.ctx, r.stream, r.mode)),
            C::StreamEndCapture(r) => {
                handle(b.stream_end_capture(r.ctx, r.stream, r.flags & END_CAPTURE_DISCARD != 0))
            }
            C::StreamGetCaptureInfo(r) => {
                graph::capture_info(b.stream_get_capture_info(r.ctx, r.stream), resp_capacity)?
            }
            C::StreamUpdateCaptureDeps((r, nodes)) => status(b.stream_update_capture_deps(
                r.ctx,
                r.stream,
                &nodes,
                r.flags & CAPTURE_DEPS_SET != 0,
            )),
            C::GraphCreate(r) => handle(if r.handle != 0 || r.flags != 0 {
                Err(result::INVALID_VALUE)
            } else {
                b.graph_create(r.ctx)
            }),
            C::GraphDestroy(r) => status(b.graph_destroy(r.ctx, r.handle)),
            C::GraphClone(r) => handle(b.graph_clone(r.ctx, r.handle)),
            C::GraphGetNodes(r) => graph::nodes(b.graph_get_nodes(r.ctx, r.handle), resp_capacity)?,
            C::GraphNodeGetType(r) => value(b.graph_node_get_type(r.ctx, r.handle).map(u64::from)),
            C::GraphAddNode(AddNode { req, deps, params }) => handle(
                graph::check_node(b.as_ref(), &req.params, params).and_then(|()| {
                    b.graph_add_node(req.ctx, req.graph, &deps, &req.params, params)
                }),
            ),
            C::GraphAddDependencies((r, edges)) => {
                status(b.graph_add_dependencies(r.ctx, r.graph, &edges))
            }
            C::GraphKernelNodeGetParams(r) => graph::kernel_params(
                b.graph_kernel_node_get_params(r.ctx, r.handle),
                resp_capacity,
            )?,
            C::GraphKernelNodeSetParams((r, params)) => status(
                graph::check_node(b.as_ref(), &r.params, params).and_then(|()| {
                    b.graph_kernel_node_set_params(r.ctx, r.exec, r.node, &r.params, params)
                }),
            ),
            C::GraphInstantiate(r) => handle(b.graph_instantiate(r.ctx, r.handle, r.flags)),
            C::GraphExecDestroy(r) => status(b.graph_exec_destroy(r.ctx, r.handle)),
            C::GraphLaunch(r) => Async(b.graph_launch(r.ctx, r.exec, r.stream, cancel)),
            C::GraphUpload(r) => Async(b.graph_upload(r.ctx, r.exec, r.stream)),
            C::GraphExecUpdate(r) => {
                graph::exec_update(b.graph_exec_update(r.ctx, r.exec, r.graph))
            }
            C::GraphLaunchPart(r) => value(if r.reserved != 0 {
                Err(result::INVALID_VALUE)
            } else {
                b.graph_launch_part(r.ctx, r.exec, r.stream, r.part, cancel)
            }),
        })
    }
}
