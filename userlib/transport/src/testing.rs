//! A transport for tests of the guest libraries: it records every command
//! and answers the ones with a response from a script (feature `testing`).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use uapi::cmd::DeviceInfo;

use crate::{
    Batching, Completion, DataPath, DataRequest, DevError, HostBlock, PciLocation, Request,
    Transport, TransportInfo,
};

/// What the fake saw and will answer.
#[derive(Default, Debug)]
pub struct Script {
    /// (opcode, detached, body) of every command, in order.
    pub sent: Vec<(u16, bool, Vec<u8>)>,
    /// Number of submit calls and their sizes.
    pub submits: Vec<usize>,
    /// Responses for non-detached commands, in order; missing ones are
    /// a bare success header.
    pub responses: VecDeque<Vec<u8>>,
    /// Of `sent`, the indices that went by the data path (body ++ data).
    pub by_pointer: Vec<usize>,
    /// Ranges pinned by `pin_host` and not unpinned.
    pub pinned: Vec<(usize, usize)>,
    /// Host memory blocks handed out (`Fake::host_memory`): (offset, len).
    pub host_blocks: Vec<(u64, usize)>,
    /// Blocks freed: (offset, how many commands had been sent by then).
    pub host_freed: Vec<(u64, usize)>,
    /// Like the driver under `RLIMIT_MEMLOCK`: a `submit_data` whose calls
    /// pin more than this many bytes (in whole pages) fails with `ENOMEM`.
    pub pin_room: Option<usize>,
    /// The most pages one by-pointer call pinned.
    pub most_pages: usize,
}

/// The fake transport.
pub struct Fake {
    /// What it saw and will answer (shared with the test).
    pub script: Arc<Mutex<Script>>,
    /// The payload limit it reports.
    pub max_payload: u32,
    /// The data path it offers (none unless set).
    pub data: Option<DataPath>,
    /// Whether it offers shared host memory (`Transport::host_alloc`).
    pub host_memory: bool,
    /// When detached commands go out (tests of batching set it; by
    /// default only at a synchronising command, so that batch sizes are
    /// deterministic).
    pub batching: Batching,
    next: u64,
    answers: std::collections::HashMap<u64, Vec<u8>>,
}

impl Fake {
    /// A fake with `max_payload`, and its script.
    pub fn new(max_payload: u32) -> (Self, Arc<Mutex<Script>>) {
        let s = Arc::new(Mutex::new(Script::default()));
        (
            Self {
                script: s.clone(),
                max_payload,
                data: None,
                host_memory: false,
                batching: Batching::UntilSync,
                next: 1,
                answers: Default::default(),
            },
            s,
        )
    }
}

impl Transport for Fake {
    fn describe(&mut self) -> Result<TransportInfo, DevError> {
        let mut device = DeviceInfo::default();
        uapi::cmd::fill_str(&mut device.name, "Fake GPU");
        device.total_memory = 1 << 30;
        device.cuda_driver_version = 12080;
        device.compute_major = 9;
        Ok(TransportInfo {
            device,
            pci: Some(PciLocation {
                domain: 0,
                bus: 0,
                device: 5,
                function: 0,
            }),
            max_payload: self.max_payload,
        })
    }

    fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError> {
        assert!(reqs.len() <= 64, "batch of {}", reqs.len());
        let mut s = self.script.lock().unwrap();
        s.submits.push(reqs.len());
        let mut t = Vec::new();
        for r in reqs {
            assert!(r.body.len() <= self.max_payload as usize);
            s.sent.push((r.opcode, r.detached, r.body.to_vec()));
            if !r.detached {
                // Unscripted: success, as long as the device would answer.
                let a = s.responses.pop_front().unwrap_or_else(|| {
                    let n = uapi::cuda::command(r.opcode)
                        .map_or(core::mem::size_of::<uapi::cuda::ResultHeader>(), |c| {
                            c.response_size
                        });
                    vec![0; n]
                });
                self.answers.insert(self.next, a);
                t.push(self.next);
                self.next += 1;
            }
        }
        Ok(t)
    }

    fn data_path(&mut self) -> Option<DataPath> {
        self.data
    }

    fn batching(&self) -> Batching {
        self.batching
    }

    fn host_alloc(&mut self, len: usize) -> Option<Result<HostBlock, DevError>> {
        if !self.host_memory {
            return None;
        }
        let len = len.div_ceil(4096) * 4096;
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: a non-zero size; freed in `host_free` with the same layout.
        let ptr = unsafe { std::alloc::alloc(layout) };
        let mut s = self.script.lock().unwrap();
        // Offsets as a server would see them: blocks side by side.
        let offset = s
            .host_blocks
            .iter()
            .map(|&(o, l)| o + l as u64)
            .max()
            .unwrap_or(0);
        s.host_blocks.push((offset, len));
        Some(Ok(HostBlock { ptr, len, offset }))
    }

    fn host_free(&mut self, block: HostBlock) -> Result<(), DevError> {
        let mut s = self.script.lock().unwrap();
        let sent = s.sent.len();
        s.host_freed.push((block.offset, sent));
        let layout = std::alloc::Layout::from_size_align(block.len, 4096).expect("layout");
        // SAFETY: allocated in `host_alloc` with this layout.
        unsafe { std::alloc::dealloc(block.ptr, layout) };
        Ok(())
    }

    unsafe fn submit_data(&mut self, reqs: &[DataRequest<'_>]) -> Result<Vec<u64>, DevError> {
        let path = self.data.expect("no data path offered");
        assert!(reqs.len() <= 64, "batch of {}", reqs.len());
        let mut s = self.script.lock().unwrap();
        // Whole pages, as the driver pins them.
        let pages = |r: &DataRequest<'_>| {
            let (addr, len) = if r.resp_data.is_null() {
                (r.data.as_ptr() as usize, r.data.len())
            } else {
                (r.resp_data as usize, r.resp_data_len as usize)
            };
            (addr % 4096 + len).div_ceil(4096)
        };
        let spans: Vec<usize> = reqs.iter().map(pages).collect();
        if s.pin_room
            .is_some_and(|room| spans.iter().sum::<usize>() * 4096 > room)
        {
            return Err(DevError {
                op: "submit data",
                errno: libc::ENOMEM,
            });
        }
        s.most_pages = spans.into_iter().fold(s.most_pages, usize::max);
        s.submits.push(reqs.len());
        let mut t = Vec::new();
        for r in reqs {
            assert!(r.body.len() <= self.max_payload as usize);
            assert!(r.data.len() <= path.max_data as usize);
            assert!(r.resp_data_len <= path.max_data);
            let index = s.sent.len();
            s.by_pointer.push(index);
            s.sent.push((r.opcode, false, [r.body, r.data].concat()));
            let mut a = s
                .responses
                .pop_front()
                .unwrap_or_else(|| vec![0; r.resp_capacity as usize]);
            // The header stays for `wait`; the rest goes to `resp_data`.
            let head = a.len().min(r.resp_capacity as usize);
            let tail = &a[head..];
            assert!(
                tail.len() <= r.resp_data_len as usize,
                "response data overflows"
            );
            if !tail.is_empty() {
                // SAFETY: the caller vouches for `resp_data_len` bytes at `resp_data`.
                unsafe { std::ptr::copy_nonoverlapping(tail.as_ptr(), r.resp_data, tail.len()) };
            }
            let total = a.len();
            a.truncate(head);
            a.resize(total, 0);
            self.answers.insert(self.next, a);
            t.push(self.next);
            self.next += 1;
        }
        Ok(t)
    }

    fn pin_host(&mut self, addr: usize, len: usize) -> Result<bool, DevError> {
        self.script.lock().unwrap().pinned.push((addr, len));
        Ok(self.data.is_some())
    }

    fn unpin_host(&mut self, addr: usize, len: usize) -> Result<(), DevError> {
        let mut s = self.script.lock().unwrap();
        let i = s.pinned.iter().position(|&p| p == (addr, len));
        s.pinned.remove(i.expect("unpinning what was not pinned"));
        Ok(())
    }

    unsafe fn submit_data_detached(&mut self, reqs: &[DataRequest<'_>]) -> Result<(), DevError> {
        let path = self.data.expect("no data path offered");
        assert!(reqs.len() <= 64, "batch of {}", reqs.len());
        let mut s = self.script.lock().unwrap();
        s.submits.push(reqs.len());
        for r in reqs {
            assert!(r.data.len() <= path.max_data as usize);
            assert_eq!((r.resp_capacity, r.resp_data_len), (0, 0));
            let addr = r.data.as_ptr() as usize;
            assert!(
                s.pinned
                    .iter()
                    .any(|&(a, n)| addr >= a && addr + r.data.len() <= a + n),
                "detached data outside pinned memory"
            );
            let index = s.sent.len();
            s.by_pointer.push(index);
            s.sent.push((r.opcode, true, [r.body, r.data].concat()));
        }
        Ok(())
    }

    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError> {
        let a = self.answers.remove(&ticket).expect("unknown ticket");
        let n = a.len().min(resp.len());
        resp[..n].copy_from_slice(&a[..n]);
        Ok(Completion {
            status: 0,
            resp_len: a.len() as u32,
        })
    }
}
