//! Module images: the simulator's image check (PTX text, fatbin entries,
//! ELF refusal), the PTX lexer and parser, module setup (globals) through
//! MODULE_LOAD on a simulator session, and then every kernel of the
//! parsed module launched on one small block under a short watchdog.
//!
//! Input: one control byte (bits 0-1: threads - 1; bit 2: skip the
//! launches), then the image.

use crate::input::{Input, Output};
use std::time::Duration;
use uapi::cuda::{op, DeviceRequest, HandleResponse, ModuleLoadRequest};
use uapi::wire::Wire;
use vgpu_host::cancel::CancelToken;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::executor::Command;
use vgpu_host::ptx::{self, FlatMemory, LaunchConfig, Module};
use vgpu_host::session::Session;

/// Watchdog of one fuzzed launch.
pub const LAUNCH_LIMIT: Duration = Duration::from_millis(20);
/// Kernels launched per input.
const MAX_KERNELS: usize = 4;
/// Largest module variable placed for a launch.
const MAX_GLOBAL: u64 = 1 << 20;
/// Bytes of the buffer every pointer parameter points at.
const BUFFER: usize = 4096;

/// One input: `control`, then `image`.
pub fn encode(control: u8, image: &[u8]) -> Vec<u8> {
    let mut out = Output::default();
    out.u8(control).raw(image);
    out.bytes
}

/// Runs one input; never panics on any bytes (the property fuzzed).
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let control = input.u8();
    let image = input.rest();
    load(image);
    // The PTX text as the simulator takes it from a bare image.
    let text = image.split(|&b| b == 0).next().unwrap_or_default();
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(module) = Module::parse(text) else {
        return;
    };
    if control & 4 == 0 {
        launch_all(&module, 1 + u32::from(control & 3));
    }
}

/// MODULE_LOAD of `image` in a fresh simulator session.
fn load(image: &[u8]) {
    let executor = SimExecutor::new(crate::cuda::device_info());
    let Ok((mut session, _listed)) = Session::standalone(&executor, 0) else {
        return;
    };
    let cancel = CancelToken::new();
    let mut call = |opcode: u16, request: &[u8]| {
        Command::decode(opcode, request, 1 << 16)
            .ok()
            .and_then(|c| session.execute(c, &cancel).ok())
    };
    let retain = DeviceRequest::default();
    let Some(ctx) = call(op::PRIMARY_CTX_RETAIN, retain.as_bytes())
        .and_then(|r| HandleResponse::read_from(&r))
        .map(|r| r.handle)
    else {
        return;
    };
    let head = ModuleLoadRequest {
        ctx,
        image_len: image.len() as u64,
    };
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(image);
    call(op::MODULE_LOAD, &request);
}

fn launch_all(module: &Module, threads: u32) {
    let mut mem = FlatMemory::new(0x1_0000_0000);
    let buffer = mem.alloc(BUFFER, 256);
    let placed: Vec<(String, u64)> = module
        .globals()
        .iter()
        .filter(|g| g.size <= MAX_GLOBAL)
        .map(|g| (g.name.clone(), mem.alloc(g.size as usize, 256)))
        .collect();
    let globals = |name: &str| placed.iter().find(|(n, _)| n == name).map(|&(_, a)| a);
    for kernel in module.kernels().iter().take(MAX_KERNELS) {
        // Every 8-byte parameter points at the buffer; others are zero.
        let mut params = vec![0u8; kernel.param_size() as usize];
        for p in &kernel.params {
            let at = p.offset as usize;
            if p.size == 8 {
                if let Some(slot) = params.get_mut(at..at + 8) {
                    slot.copy_from_slice(&buffer.to_le_bytes());
                }
            }
        }
        let cfg = LaunchConfig {
            grid: [1, 1, 1],
            block: [threads, 1, 1],
            dynamic_shared_bytes: 256,
        };
        let _ = ptx::launch_within(
            kernel,
            module,
            &params,
            &globals,
            &cfg,
            &mut mem,
            LAUNCH_LIMIT,
        );
    }
}
