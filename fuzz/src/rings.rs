//! The queue engine over a fuzzed guest memory image: queue configuration
//! validation ([`vgpu_host::queue::QueueConfig`]), the submission ring,
//! request and response buffers (contiguous and scatter-gather,
//! [`vgpu_host::queue::GuestBuffer`]), command decoding, completions and
//! the control block, all through the device's BAR0 registers and its real
//! worker thread, as the guest driver drives them.
//!
//! Guest RAM is two 64 KiB windows of one memfd with a hole between them.
//! Input: [`Layout`], then the submission entries, then the bytes of RAM A
//! from `A + DATA` and of RAM B.

use crate::input::{Input, Output};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use uapi::cmd::Opcode;
use uapi::cuda::op;
use uapi::regs::{self, queue as qreg};
use uapi::ring::{control_offsets, CompletionEntry, SubmissionEntry};
use uapi::wire::Wire;
use vgpu_host::device::{Device, DeviceOptions};
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::guest_memory::memfd;
use vgpu_host::irq::InterruptSink;
use vgpu_host::shared::Limits;

/// First RAM window.
pub const RAM_A: u64 = 0x10_0000;
/// Second RAM window, after a hole.
pub const RAM_B: u64 = 0x30_0000;
/// Size of each window.
pub const RAM_SIZE: u64 = 0x1_0000;
/// Standard layout: completion ring, control block and data area in RAM A.
pub const CQ: u64 = 0x1000;
/// Control block offset in RAM A.
pub const CTRL: u64 = 0x1800;
/// Data area offset in RAM A.
pub const DATA: u64 = 0x2000;
/// Transfer limit of the fuzzed device (keeps SGL gathers small).
pub const MAX_TRANSFER: u32 = 1 << 20;
/// Longest wait for the worker to consume the submissions.
const DEADLINE: Duration = Duration::from_secs(2);

struct NoInterrupts;
impl InterruptSink for NoInterrupts {
    fn raise(&self, _vector: u32) {}
}

fn device() -> &'static Mutex<Arc<Device>> {
    static DEVICE: OnceLock<Mutex<Arc<Device>>> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let options = DeviceOptions {
            limits: Limits {
                max_transfer: MAX_TRANSFER,
                ..Limits::default()
            },
            ..DeviceOptions::default()
        };
        let device = Arc::new(Device::new(
            options,
            Arc::new(SimExecutor::new(crate::cuda::device_info())),
            Arc::new(NoInterrupts),
        ));
        let file = memfd("fuzz-ram", 2 * RAM_SIZE).expect("memfd");
        let second = file.try_clone().expect("dup");
        device.dma_map(RAM_A, RAM_SIZE, file, 0).expect("map A");
        device
            .dma_map(RAM_B, RAM_SIZE, second, RAM_SIZE)
            .expect("map B");
        Mutex::new(device)
    })
}

/// How the queue is programmed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Layout {
    /// Bit 0: raw registers follow; bit 1: raw doorbell; bit 2: raw CQ head.
    pub mode: u8,
    /// Standard layout: depth `2 << (depth_log % 6)`.
    pub depth_log: u8,
    /// Raw SQ, CQ, control bases, depth and vector.
    pub raw: (u64, u64, u64, u32, u32),
    /// Submissions (standard: `tail % (depth + 1)`).
    pub tail: u32,
    /// Initial `cq_head` of the control block.
    pub cq_head: u32,
}

impl Layout {
    /// Encodes the layout.
    pub fn encode(&self, out: &mut Output) {
        out.u8(self.mode);
        if self.mode & 1 != 0 {
            let (sq, cq, ctrl, depth, vector) = self.raw;
            out.u64(sq).u64(cq).u64(ctrl).u32(depth).u32(vector);
        } else {
            out.u8(self.depth_log);
        }
        out.u32(self.tail);
        if self.mode & 4 != 0 {
            out.u32(self.cq_head);
        }
    }

    fn decode(input: &mut Input<'_>) -> Self {
        let mut l = Self {
            mode: input.u8(),
            ..Self::default()
        };
        if l.mode & 1 != 0 {
            l.raw = (
                input.u64(),
                input.u64(),
                input.u64(),
                input.u32(),
                input.u32(),
            );
        } else {
            l.depth_log = input.u8();
        }
        l.tail = input.u32();
        if l.mode & 4 != 0 {
            l.cq_head = input.u32();
        }
        l
    }

    /// `(sq, cq, ctrl, depth, vector, tail)` as programmed.
    fn registers(&self) -> (u64, u64, u64, u32, u32, u32) {
        let (sq, cq, ctrl, depth, vector) = if self.mode & 1 != 0 {
            self.raw
        } else {
            let depth = 2u32 << (self.depth_log % 6);
            (RAM_A, RAM_A + CQ, RAM_A + CTRL, depth, 0)
        };
        let tail = if self.mode & 2 != 0 {
            self.tail
        } else {
            self.tail % depth.saturating_add(1).max(1)
        };
        (sq, cq, ctrl, depth, vector, tail)
    }
}

/// One input: layout, entries, RAM images.
pub fn encode(layout: &Layout, entries: &[SubmissionEntry], ram_a: &[u8], ram_b: &[u8]) -> Vec<u8> {
    let mut out = Output::default();
    layout.encode(&mut out);
    out.u8(entries.len() as u8);
    for e in entries {
        out.raw(e.as_bytes());
    }
    out.u16(ram_a.len() as u16).raw(ram_a).raw(ram_b);
    out.bytes
}

/// Commands the ring target lets through to the executor: the CUDA ones
/// of known findings, or long ones, are the CUDA target's business.
fn allowed(opcode: u16) -> bool {
    if opcode == Opcode::Sleep as u16 {
        return false;
    }
    !op::is_cuda(opcode)
        || matches!(
            opcode,
            op::CTX_CREATE
                | op::PRIMARY_CTX_RETAIN
                | op::MEM_ALLOC
                | op::MEM_FREE
                | op::MEMCPY_HTOD
                | op::MEMCPY_DTOH
                | op::DEVICE_GET_ATTRIBUTES
                | op::MEM_GET_INFO
        )
}

fn write32(device: &Device, offset: u32, value: u32) {
    device.region_write(0, u64::from(offset), &value.to_le_bytes());
}

fn read32(device: &Device, offset: u32) -> u32 {
    let mut data = [0u8; 4];
    device.region_read(0, u64::from(offset), &mut data);
    u32::from_le_bytes(data)
}

fn write64(device: &Device, lo: u32, value: u64) {
    write32(device, regs::queue_reg(0, lo), value as u32);
    write32(device, regs::queue_reg(0, lo + 4), (value >> 32) as u32);
}

/// Runs one input; never panics on any bytes (the property fuzzed).
pub fn run(data: &[u8]) {
    replay(data);
}

/// Runs one input; the completions posted (for the standard layout).
pub fn replay(data: &[u8]) -> Vec<CompletionEntry> {
    let device = device().lock().unwrap_or_else(PoisonError::into_inner);
    // As a driver does before it enables a queue: memory decoding and bus
    // mastering on (the device holds its queues while BME is off).
    device.region_write(
        vfio_bindings::bindings::vfio::VFIO_PCI_CONFIG_REGION_INDEX,
        0x04,
        &0x0006u16.to_le_bytes(),
    );
    let mem = device.guest_memory();
    let mut input = Input::new(data);
    let layout = Layout::decode(&mut input);
    let (sq, cq, ctrl, depth, vector, tail) = layout.registers();
    let count = usize::from(input.u8());
    let mut entries = Vec::new();
    for _ in 0..count.min(64) {
        let mut entry = SubmissionEntry::default();
        let bytes = input.bytes(core::mem::size_of::<SubmissionEntry>());
        entry.as_bytes_mut()[..bytes.len()].copy_from_slice(bytes);
        if !allowed(entry.opcode) {
            entry.opcode = Opcode::Echo as u16;
        }
        entries.push(entry);
    }
    let a_len = usize::from(input.u16());
    let a = input.bytes(a_len.min((RAM_SIZE - DATA) as usize));
    let b = input.bytes(RAM_SIZE as usize);

    // The image: zeros, the data areas, the entries, the control block.
    let zeros = vec![0u8; RAM_SIZE as usize];
    let _ = mem.write(RAM_A, &zeros);
    let _ = mem.write(RAM_B, &zeros);
    let _ = mem.write(RAM_A + DATA, a);
    let _ = mem.write(RAM_B, b);
    if depth.is_power_of_two() {
        for (i, entry) in entries.iter().enumerate() {
            let slot = sq.wrapping_add((i as u64 % u64::from(depth)) * 64);
            let _ = mem.write_obj(slot, entry);
        }
    }
    let _ = mem.store_u32(
        ctrl.wrapping_add(control_offsets::CQ_HEAD as u64),
        layout.cq_head,
    );

    write64(&device, qreg::SQ_BASE_LO, sq);
    write64(&device, qreg::CQ_BASE_LO, cq);
    write64(&device, qreg::CTRL_BASE_LO, ctrl);
    write32(&device, regs::queue_reg(0, qreg::DEPTH), depth);
    write32(&device, regs::queue_reg(0, qreg::VECTOR), vector);
    write32(&device, regs::queue_reg(0, qreg::ENABLE), qreg::ENABLE_ON);
    let status = || read32(&device, regs::queue_reg(0, qreg::STATUS));
    let enabled = status() == qreg::status::ENABLED;
    if enabled && tail != 0 {
        write32(&device, regs::queue_reg(0, qreg::DOORBELL), tail);
        let deadline = Instant::now() + DEADLINE;
        let sq_head = ctrl.wrapping_add(control_offsets::SQ_HEAD as u64);
        // The worker stores SQ_HEAD, then CQ_TAIL, after each completion:
        // wait for both, or a reader between the two stores (a loaded
        // machine) counts one completion too few.
        let cq_tail = ctrl.wrapping_add(control_offsets::CQ_TAIL as u64);
        let done = || {
            mem.load_u32(sq_head).is_ok_and(|head| head == tail)
                && mem.load_u32(cq_tail).is_ok_and(|t| t == tail)
        };
        while status() == qreg::status::ENABLED && !done() && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }
    // Only a validated layout has a bounded depth to read completions by.
    let posted = if enabled {
        mem.load_u32(ctrl.wrapping_add(control_offsets::CQ_TAIL as u64))
            .unwrap_or(0)
    } else {
        0
    };
    let completions = (0..posted.min(depth))
        .filter_map(|i| mem.read_obj(cq.wrapping_add(u64::from(i) * 32)).ok())
        .collect();
    device.reset();
    completions
}
