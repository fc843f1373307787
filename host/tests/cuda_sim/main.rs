//! The CUDA command path on the simulator, driven the way the guest library
//! drives it: encoded requests in, encoded responses out, through a session.
//! Function attributes, occupancy and limits are in `attributes.rs`,
//! stream-ordered allocation and pools in `pools.rs`.

mod attributes;
mod bounds;
mod client;
mod graph;
mod options;
mod pools;
mod quotas;
mod stage_quota;
mod vmm;

use uapi::cuda::{
    copy_flags, op, result, CopyRequest, CtxRequest, MemAllocRequest, ModuleLoadRequest, ParamInfo,
    PtrRequest, ResultHeader, StreamCreateRequest, StreamRequest,
};
use uapi::status::Status;
use uapi::wire::Wire;

use client::*;

#[test]
fn vector_add_runs_and_matches_the_cpu() {
    let mut c = Client::new();
    let n = 1000u32;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 1.0)).collect();
    let (da, db, dc) = (c.alloc(4 * 1000), c.alloc(4 * 1000), c.alloc(4 * 1000));
    assert_eq!(
        c.htod(da, &floats(&a), 0).map(|r| r[..4].to_vec()),
        Ok(vec![0; 4])
    );
    // Asynchronous copies have no response.
    assert_eq!(c.htod(db, &floats(&b), copy_flags::ASYNC), Ok(vec![]));
    let (f, layout) = c.load_vecadd();
    assert_eq!(
        layout,
        vec![
            ParamInfo { offset: 0, size: 8 },
            ParamInfo { offset: 8, size: 8 },
            ParamInfo {
                offset: 16,
                size: 8
            },
            ParamInfo {
                offset: 24,
                size: 4
            },
        ]
    );
    assert_eq!(
        c.launch(f, 4, 256, &vecadd_params(da, db, dc, n)),
        Vec::<u8>::new()
    );
    let (r, out) = c.dtoh(dc, 4000);
    assert_eq!(r, result::SUCCESS);
    let want: Vec<u8> = floats(&a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<_>>());
    assert_eq!(out, want);
}

#[test]
fn errors_match_the_driver_and_the_client_carries_on() {
    let mut c = Client::new();
    let buf = c.alloc(64);
    // Freeing an unknown pointer.
    assert_eq!(
        c.result(
            op::MEM_FREE,
            PtrRequest {
                ctx: 0,
                dptr: buf + 8
            }
            .as_bytes()
        ),
        result::INVALID_VALUE
    );
    // Copying past the end of an allocation.
    let out = c.htod(buf + 32, &[1; 64], 0).expect("status ok");
    assert_eq!(
        ResultHeader::read_from(&out).map(|h| h.result),
        Some(result::INVALID_VALUE)
    );
    // A destroyed stream.
    let (r, s) = c.handle(
        op::STREAM_CREATE,
        StreamCreateRequest {
            ctx: 0,
            flags: 0,
            priority: 0,
        }
        .as_bytes(),
    );
    assert_eq!(r, result::SUCCESS);
    assert_eq!(
        c.result(
            op::STREAM_DESTROY,
            StreamRequest { ctx: 0, stream: s }.as_bytes()
        ),
        result::SUCCESS
    );
    assert_eq!(
        c.result(
            op::STREAM_SYNCHRONIZE,
            StreamRequest { ctx: 0, stream: s }.as_bytes()
        ),
        result::INVALID_HANDLE
    );
    // Launching an unknown function: asynchronous, reported at the next sync.
    assert_eq!(c.launch(0xdead, 1, 1, &[]), Vec::<u8>::new());
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::INVALID_HANDLE
    );
    // Reported once; the client carries on.
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::SUCCESS
    );
    // A parameter buffer that does not match the layout.
    let (f, _) = c.load_vecadd();
    c.launch(f, 1, 1, &[0; 20]);
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::INVALID_VALUE
    );
}

#[test]
fn an_illegal_address_is_sticky_and_reported_at_the_next_sync() {
    let mut c = Client::new();
    let (f, _) = c.load_vecadd();
    let ok = c.alloc(16);
    // Output far outside any allocation.
    c.launch(f, 1, 4, &vecadd_params(ok, ok, 0x10, 4));
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::ILLEGAL_ADDRESS
    );
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::ILLEGAL_ADDRESS
    );
    let (r, _) = c.handle(
        op::MEM_ALLOC,
        MemAllocRequest { ctx: 0, size: 4 }.as_bytes(),
    );
    assert_eq!(r, result::ILLEGAL_ADDRESS);
}

#[test]
fn malformed_requests_are_device_errors() {
    let mut c = Client::new();
    assert_eq!(
        c.call(op::MEM_ALLOC, &[0; 3], 64),
        Err(Status::InvalidField)
    );
    assert_eq!(c.call(0x1ff, &[], 64), Err(Status::InvalidOpcode));
    // A DTOH larger than the response buffer is refused before any allocation.
    let req = CopyRequest {
        src: 0,
        len: 1 << 40,
        ..Default::default()
    };
    assert_eq!(
        c.call(op::MEMCPY_DTOH, req.as_bytes(), 64),
        Err(Status::ResponseTooSmall)
    );
    // A copy whose length disagrees with its payload.
    let mut req = CopyRequest {
        len: 10,
        ..Default::default()
    }
    .as_bytes()
    .to_vec();
    req.extend_from_slice(&[0; 4]);
    assert_eq!(c.call(op::MEMCPY_HTOD, &req, 64), Err(Status::InvalidField));
}

#[test]
fn a_module_arrives_in_pieces() {
    use uapi::cuda::StageRequest;
    let mut c = Client::new();
    let image = VECADD.as_bytes();
    let (first, second) = image.split_at(image.len() / 2);
    for (offset, piece) in [(0, first), (first.len(), second)] {
        let mut req = StageRequest {
            ctx: 0,
            offset: offset as u64,
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(piece);
        // Asynchronous: no response.
        assert_eq!(c.call(op::MODULE_STAGE, &req, 0), Ok(vec![]));
    }
    let req = ModuleLoadRequest {
        ctx: 0,
        image_len: 0,
    };
    let (r, module) = c.handle(op::MODULE_LOAD, req.as_bytes());
    assert_eq!(r, result::SUCCESS);
    assert_ne!(module, 0);
    // The staging buffer is empty again: an empty load has nothing to load.
    let (r, _) = c.handle(op::MODULE_LOAD, req.as_bytes());
    assert_eq!(r, result::INVALID_VALUE);
    // A piece out of order is refused at the next synchronising call.
    let mut req = StageRequest { ctx: 0, offset: 7 }.as_bytes().to_vec();
    req.extend_from_slice(b"xyz");
    assert_eq!(c.call(op::MODULE_STAGE, &req, 0), Ok(vec![]));
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::INVALID_VALUE
    );
}
