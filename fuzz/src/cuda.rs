//! The CUDA command path: a sequence of (opcode, request) records run
//! through a fresh simulator session, exactly as the queue worker hands
//! them over (`Command::decode`, then `Session::execute`: the
//! client's decoder and validator, its deferred and sticky error rules and
//! the simulator executor).
//!
//! Record format (see [`Record`]): opcode selector, response capacity,
//! request length, an optional patch that copies a value from an earlier
//! response (a handle or device pointer) into the request, then the
//! request bytes. A request of one byte after a MODULE_LOAD header loads
//! fixture module `byte % n` instead, so launches can reach real kernels.

use crate::fixtures;
use crate::input::{Input, Output};
use core::mem::size_of;
use uapi::cmd::{fill_str, DeviceInfo};
use uapi::cuda::{op, ModuleLoadRequest, ResultHeader, COMMANDS};
use uapi::wire::Wire;
use vgpu_host::cancel::CancelToken;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::executor::Command;
use vgpu_host::session::{Keep, Session};

/// Most records run per input.
pub const MAX_RECORDS: usize = 48;
/// Device memory of the fuzzed device: small, so that legitimate
/// allocations and memsets stay cheap.
pub const DEVICE_MEMORY: u64 = 64 << 20;
/// Values kept from responses for patches.
const MAX_VALUES: usize = 64;

/// The device the sessions run on.
pub fn device_info() -> DeviceInfo {
    let mut info = DeviceInfo::default();
    fill_str(&mut info.name, "fuzz sim");
    info.total_memory = DEVICE_MEMORY;
    info.compute_major = 9;
    info.multiprocessor_count = 4;
    info
}

/// One command of an input, as encoded.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// `< 0xf0`: `COMMANDS[selector % COMMANDS.len()]`; else a raw opcode follows.
    pub selector: u8,
    /// A raw opcode (used when `selector >= 0xf0`).
    pub raw_opcode: u16,
    /// 0: no response room (detached); 1..=254: `16 * cap`; 255: 1 MiB.
    pub cap: u8,
    /// Patch slot: 0 none, else copy value `value` (mod the count kept)
    /// to request offset `8 * (at % (len / 8))`.
    pub patch: u8,
    /// Which kept value to copy.
    pub value: u8,
    /// Request bytes.
    pub request: Vec<u8>,
}

impl Record {
    /// A record of command `opcode` (must be in `COMMANDS`) with a response.
    pub fn new(opcode: u16, request: &[u8]) -> Self {
        let selector = COMMANDS
            .iter()
            .position(|c| c.opcode == opcode)
            .map_or(0xf0, |i| i as u8);
        Self {
            selector,
            raw_opcode: opcode,
            cap: 255,
            request: request.to_vec(),
            ..Self::default()
        }
    }

    /// Copies kept value `value` to the 8-byte word `word` of the request.
    pub fn patched(mut self, word: u8, value: u8) -> Self {
        self.patch = word.wrapping_add(1).max(1);
        self.value = value;
        self
    }

    /// Encodes the record.
    pub fn encode(&self, out: &mut Output) {
        out.u8(self.selector);
        if self.selector >= 0xf0 {
            out.u16(self.raw_opcode);
        }
        out.u8(self.cap)
            .u16(self.request.len() as u16)
            .u8(self.patch);
        if self.patch != 0 {
            out.u8(self.value);
        }
        out.raw(&self.request);
    }

    fn decode(input: &mut Input<'_>) -> Self {
        let selector = input.u8();
        let raw_opcode = if selector >= 0xf0 { input.u16() } else { 0 };
        let cap = input.u8();
        let len = usize::from(input.u16());
        let patch = input.u8();
        let value = if patch != 0 { input.u8() } else { 0 };
        Self {
            selector,
            raw_opcode,
            cap,
            patch,
            value,
            request: input.bytes(len).to_vec(),
        }
    }

    fn opcode(&self) -> u16 {
        if self.selector >= 0xf0 {
            self.raw_opcode
        } else {
            COMMANDS[usize::from(self.selector) % COMMANDS.len()].opcode
        }
    }

    fn capacity(&self) -> usize {
        match self.cap {
            255 => 1 << 20,
            c => usize::from(c) * 16,
        }
    }
}

/// Encodes a sequence of records as one input.
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Output::default();
    for r in records {
        r.encode(&mut out);
    }
    out.bytes
}

/// A MODULE_LOAD request of fixture `index`.
fn fixture_load(request: &[u8], index: u8) -> Vec<u8> {
    let text = fixtures::MODULES[usize::from(index) % fixtures::MODULES.len()].1;
    let mut head = ModuleLoadRequest::read_from(request).unwrap_or_default();
    let mut image = text.as_bytes().to_vec();
    image.push(0);
    head.image_len = image.len() as u64;
    let mut out = head.as_bytes().to_vec();
    out.extend_from_slice(&image);
    out
}

/// A simulator session and what a sequence of records left behind.
pub struct Runner {
    session: Session,
    _listed: Keep,
    cancel: CancelToken,
    /// Words of the responses so far (what patches copy from).
    values: Vec<u64>,
}

impl Runner {
    /// A fresh session on a fresh simulated device (handles and device
    /// addresses are the same on every run).
    pub fn new() -> Option<Self> {
        let (session, listed) = Session::standalone(&SimExecutor::new(device_info()), 0).ok()?;
        // Cancelled from the start: SLEEP returns at once, and a launch
        // stops at the watchdog's first look (after 2^16 thread
        // instructions), so a huge grid or an endless kernel costs
        // milliseconds, not the 60 s of the simulator's own watchdog.
        let cancel = CancelToken::new();
        cancel.cancel();
        Some(Self {
            session,
            _listed: listed,
            cancel,
            values: Vec::new(),
        })
    }

    /// Runs one record; the response, if it got one.
    pub fn step(&mut self, record: &Record) -> Option<Vec<u8>> {
        let opcode = record.opcode();
        let mut request = record.request.clone();
        if record.patch != 0 && request.len() >= 8 && !self.values.is_empty() {
            let words = request.len() / 8;
            let at = 8 * ((usize::from(record.patch) - 1) % words);
            let v = self.values[usize::from(record.value) % self.values.len()];
            request[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        if opcode == op::MODULE_LOAD && request.len() == size_of::<ModuleLoadRequest>() + 1 {
            let index = request[size_of::<ModuleLoadRequest>()];
            request = fixture_load(&request, index);
        }
        let capacity = record.capacity();
        let command = Command::decode(opcode, &request, capacity as u64).ok()?;
        let reply = self.session.execute(command, &self.cancel).ok()?;
        let words = reply.get(size_of::<ResultHeader>()..).unwrap_or_default();
        for word in words.chunks_exact(8) {
            if self.values.len() < MAX_VALUES {
                self.values
                    .push(u64::from_le_bytes(word.try_into().unwrap_or_default()));
            }
        }
        Some(reply)
    }
}

/// Runs one input; the opcode and response of every record.
pub fn replay(data: &[u8]) -> Vec<(u16, Option<Vec<u8>>)> {
    let Some(mut runner) = Runner::new() else {
        return Vec::new();
    };
    let mut input = Input::new(data);
    let mut out = Vec::new();
    for _ in 0..MAX_RECORDS {
        if input.is_empty() {
            break;
        }
        let record = Record::decode(&mut input);
        out.push((record.opcode(), runner.step(&record)));
    }
    out
}

/// Runs one input; never panics on any bytes (the property fuzzed).
pub fn run(data: &[u8]) {
    replay(data);
}
