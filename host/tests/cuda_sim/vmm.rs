//! Virtual memory management on the simulator, as ggml-cuda's pool uses it:
//! a large reservation, chunks created and mapped side by side, access set,
//! and the span used as one buffer by copies, memsets and a kernel.

use uapi::cuda::{
    copy_flags, op, result, vmm_prop, AddressRangeResponse, AllocationProp, CopyRequest,
    CtxRequest, MemAddressReserveRequest, MemCreateRequest, MemGetAccessRequest, MemHandleRequest,
    MemInfoResponse, MemMapRequest, MemSetAccessRequest, MemsetRequest, PtrRequest,
    VmmRangeRequest, VMM_GRANULARITY as G,
};
use uapi::status::Status;
use uapi::wire::Wire;

use crate::client::*;

fn pinned() -> AllocationProp {
    AllocationProp {
        kind: vmm_prop::ALLOCATION_PINNED,
        location_type: vmm_prop::LOCATION_DEVICE,
        ..Default::default()
    }
}

impl Client {
    fn reserve(&mut self, size: u64, alignment: u64) -> (u32, u64) {
        let req = MemAddressReserveRequest {
            size,
            alignment,
            ..Default::default()
        };
        self.handle(op::MEM_ADDRESS_RESERVE, req.as_bytes())
    }
    fn create(&mut self, size: u64, prop: AllocationProp) -> (u32, u64) {
        let req = MemCreateRequest {
            size,
            prop,
            ..Default::default()
        };
        self.handle(op::MEM_CREATE, req.as_bytes())
    }
    fn map(&mut self, ptr: u64, size: u64, handle: u64) -> u32 {
        let req = MemMapRequest {
            ptr,
            size,
            handle,
            ..Default::default()
        };
        self.result(op::MEM_MAP, req.as_bytes())
    }
    fn range_op(&mut self, opcode: u16, ptr: u64, size: u64) -> u32 {
        self.result(opcode, VmmRangeRequest { ctx: 0, ptr, size }.as_bytes())
    }
    fn set_access(&mut self, ptr: u64, size: u64, flags: u32) -> u32 {
        let req = MemSetAccessRequest {
            ptr,
            size,
            location_type: vmm_prop::LOCATION_DEVICE,
            flags,
            ..Default::default()
        };
        self.result(op::MEM_SET_ACCESS, req.as_bytes())
    }
    fn get_access(&mut self, ptr: u64) -> (u32, u64) {
        let req = MemGetAccessRequest {
            ptr,
            location_type: vmm_prop::LOCATION_DEVICE,
            ..Default::default()
        };
        self.value(op::MEM_GET_ACCESS, req.as_bytes())
    }
    fn release(&mut self, handle: u64) -> u32 {
        self.result(
            op::MEM_RELEASE,
            MemHandleRequest { ctx: 0, handle }.as_bytes(),
        )
    }
    fn free_memory(&mut self) -> u64 {
        let out = self
            .call(op::MEM_GET_INFO, CtxRequest { ctx: 0 }.as_bytes(), 64)
            .expect("status ok");
        MemInfoResponse::read_from(&out).expect("info").free
    }
}

#[test]
fn chunks_mapped_side_by_side_are_one_buffer_for_kernels_and_copies() {
    let mut c = Client::new();
    let free_before = c.free_memory();
    let (r, base) = c.reserve(16 * G, 0);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(base % G, 0);
    assert_eq!(
        c.free_memory(),
        free_before,
        "a reservation takes no memory"
    );
    let mut handles = Vec::new();
    for i in 0..3 {
        let (r, h) = c.create(G, pinned());
        assert_eq!(r, result::SUCCESS);
        assert_eq!(c.map(base + i * G, G, h), result::SUCCESS);
        handles.push(h);
    }
    assert_eq!(
        c.free_memory(),
        free_before - 3 * G,
        "created memory counts"
    );
    // Mapped but not yet accessible: the device faults, copies fail.
    assert_eq!(
        c.htod(base, &[1; 16], 0).map(|r| r[0]),
        Ok(result::INVALID_VALUE as u8)
    );
    assert_eq!(c.get_access(base), (0, 0));
    assert_eq!(c.set_access(base, 3 * G, vmm_prop::ACCESS_READWRITE), 0);
    assert_eq!(c.get_access(base + G + 5), (0, 3));

    // A copy across both chunk boundaries, back out in one piece.
    let n = 3 * G / 4 - 512;
    let at = base + 1024;
    let data: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    for (k, piece) in floats(&data).chunks(1 << 20).enumerate() {
        let dst = at + (k << 20) as u64;
        assert_eq!(c.htod(dst, piece, copy_flags::ASYNC), Ok(vec![]));
    }
    // c = a + a over the whole span, in place.
    let (f, _) = c.load_vecadd();
    let threads = 256;
    let blocks = (n as u32).div_ceil(threads);
    c.launch(f, blocks, threads, &vecadd_params(at, at, at, n as u32));
    assert_eq!(c.sync(), result::SUCCESS);
    // The module's memory aside, only the three chunks are held.
    let free_after_load = c.free_memory() + 3 * G;
    for probe in [
        0,
        G as usize / 4 - 300,
        G as usize / 2 - 256,
        n as usize - 4,
    ] {
        let (r, out) = c.dtoh(at + 4 * probe as u64, 16);
        assert_eq!(r, result::SUCCESS);
        let want: Vec<f32> = (probe..probe + 4)
            .map(|i| 2.0 * (i % 1000) as f32)
            .collect();
        assert_eq!(out, floats(&want), "element {probe}");
    }
    // Device-to-device and memset across a boundary.
    let copy = CopyRequest {
        dst: base + 2 * G - 8,
        src: base + G - 8,
        len: 16,
        ..Default::default()
    };
    assert_eq!(c.result(op::MEMCPY_DTOD, copy.as_bytes()), 0);
    assert_eq!(c.dtoh(base + 2 * G - 8, 16).1, c.dtoh(base + G - 8, 16).1);
    let memset = MemsetRequest {
        dst: base + G - 2,
        width: 4,
        height: 1,
        value: 0xab,
        elem_size: 1,
        ..Default::default()
    };
    assert_eq!(c.result(op::MEMSET, memset.as_bytes()), 0);
    assert_eq!(c.dtoh(base + G - 2, 4).1, vec![0xab; 4]);
    // Beyond the last chunk is unmapped.
    assert_eq!(c.dtoh(base + 3 * G - 4, 8).0, result::INVALID_VALUE);
    // The address range of a mapped pointer is its mapping's.
    let out = c
        .call(
            op::MEM_GET_ADDRESS_RANGE,
            PtrRequest {
                ctx: 0,
                dptr: base + G + 7,
            }
            .as_bytes(),
            64,
        )
        .expect("status ok");
    let range = AddressRangeResponse::read_from(&out).expect("range");
    assert_eq!((range.result, range.base, range.size), (0, base + G, G));

    // Retain gives the handle back with one more reference.
    let (r, again) = c.handle(
        op::MEM_RETAIN_ALLOCATION_HANDLE,
        PtrRequest {
            ctx: 0,
            dptr: base + 2 * G + 64,
        }
        .as_bytes(),
    );
    assert_eq!((r, again), (0, handles[2]));
    // Released while mapped: the memory stays until unmapped.
    for &h in &handles {
        assert_eq!(c.release(h), 0);
    }
    assert_eq!(c.free_memory(), free_after_load - 3 * G);
    assert_eq!(c.dtoh(base + G - 2, 4).1, vec![0xab; 4], "still mapped");
    // Unmapping part of a mapping is refused; whole mappings at once are not.
    assert_eq!(
        c.range_op(op::MEM_UNMAP, base, G / 2 * 3),
        result::INVALID_VALUE
    );
    assert_eq!(c.range_op(op::MEM_UNMAP, base, 2 * G), 0);
    assert_eq!(
        c.free_memory(),
        free_after_load - G,
        "the third is retained"
    );
    assert_eq!(
        c.range_op(op::MEM_ADDRESS_FREE, base, 16 * G),
        result::INVALID_VALUE,
        "still mapped"
    );
    assert_eq!(c.range_op(op::MEM_UNMAP, base + 2 * G, G), 0);
    assert_eq!(
        c.free_memory(),
        free_after_load - G,
        "unmapped, one reference left"
    );
    assert_eq!(c.release(handles[2]), 0);
    assert_eq!(c.free_memory(), free_after_load);
    assert_eq!(c.release(handles[2]), result::INVALID_VALUE, "gone");
    assert_eq!(
        c.range_op(op::MEM_ADDRESS_FREE, base, 8 * G),
        result::INVALID_VALUE
    );
    assert_eq!(c.range_op(op::MEM_ADDRESS_FREE, base, 16 * G), 0);
    assert_eq!(
        c.range_op(op::MEM_ADDRESS_FREE, base, 16 * G),
        result::INVALID_VALUE
    );
}

#[test]
fn unmapped_handles_can_be_mapped_again_and_keep_their_bytes() {
    let mut c = Client::new();
    let (_, base) = c.reserve(4 * G, 4 * G);
    assert_eq!(base % (4 * G), 0, "aligned as asked");
    let (_, h) = c.create(G, pinned());
    assert_eq!(c.map(base, G, h), 0);
    assert_eq!(c.set_access(base, G, vmm_prop::ACCESS_READWRITE), 0);
    assert!(c.htod(base + 100, &[7; 8], 0).is_ok());
    assert_eq!(c.range_op(op::MEM_UNMAP, base, G), 0);
    assert_eq!(c.map(base + 3 * G, G, h), 0);
    assert_eq!(
        c.get_access(base + 3 * G),
        (0, 0),
        "access is the mapping's"
    );
    assert_eq!(c.set_access(base + 3 * G, G, vmm_prop::ACCESS_READ), 0);
    assert_eq!(c.dtoh(base + 3 * G + 100, 8), (0, vec![7; 8]));
    let out = c.htod(base + 3 * G, &[1], 0).expect("status ok");
    assert_eq!(out[0], result::INVALID_VALUE as u8, "read-only");
}

#[test]
fn vmm_errors_are_nvidias() {
    let mut c = Client::new();
    assert_eq!(c.reserve(G + 1, 0).0, result::INVALID_VALUE);
    assert_eq!(c.reserve(0, 0).0, result::INVALID_VALUE);
    assert_eq!(c.reserve(G, 3).0, result::INVALID_VALUE);
    let (_, base) = c.reserve(4 * G, 0);
    assert_eq!(c.create(G / 2, pinned()).0, result::INVALID_VALUE);
    let fabric = AllocationProp {
        requested_handle_types: vmm_prop::HANDLE_FABRIC,
        ..pinned()
    };
    assert_eq!(c.create(G, fabric).0, result::NOT_SUPPORTED);
    // A file descriptor may be asked for (PyTorch does), never exported.
    let posix = AllocationProp {
        requested_handle_types: vmm_prop::HANDLE_POSIX_FD,
        ..pinned()
    };
    let (rc, fd_handle) = c.create(G, posix);
    assert_eq!(rc, 0);
    assert_eq!(c.release(fd_handle), 0);
    let other_device = AllocationProp {
        location_id: 1,
        ..pinned()
    };
    assert_eq!(c.create(G, other_device).0, result::INVALID_DEVICE);
    assert_eq!(c.create(1 << 40, pinned()).0, result::OUT_OF_MEMORY);
    let (_, h) = c.create(2 * G, pinned());
    // Outside any reservation, unknown handle, past the handle, partial (sim).
    assert_eq!(c.map(base + 4 * G, 2 * G, h), result::INVALID_VALUE);
    assert_eq!(c.map(base, 2 * G, 0xdead), result::INVALID_VALUE);
    assert_eq!(c.map(base, 4 * G, h), result::INVALID_VALUE);
    assert_eq!(c.map(base, G, h), result::NOT_SUPPORTED);
    assert_eq!(c.map(base + 1, 2 * G, h), result::INVALID_VALUE);
    let offset = MemMapRequest {
        ptr: base,
        size: 2 * G,
        offset: G,
        handle: h,
        ..Default::default()
    };
    assert_eq!(
        c.result(op::MEM_MAP, offset.as_bytes()),
        result::INVALID_VALUE
    );
    assert_eq!(c.map(base, 2 * G, h), 0);
    assert_eq!(c.map(base, 2 * G, h), result::INVALID_VALUE, "overlaps");
    let (_, h2) = c.create(2 * G, pinned());
    assert_eq!(
        c.map(base + G, 2 * G, h2),
        result::INVALID_VALUE,
        "overlaps"
    );
    // Access: unmapped ranges, other devices, unknown flags.
    assert_eq!(c.set_access(base, 4 * G, 3), result::INVALID_VALUE);
    assert_eq!(c.set_access(base, 2 * G, 2), result::INVALID_VALUE);
    let other = MemSetAccessRequest {
        ptr: base,
        size: 2 * G,
        location_type: vmm_prop::LOCATION_DEVICE,
        location_id: 1,
        flags: 3,
        ..Default::default()
    };
    assert_eq!(
        c.result(op::MEM_SET_ACCESS, other.as_bytes()),
        result::INVALID_DEVICE
    );
    let reserved = MemSetAccessRequest {
        reserved: 1,
        ..other
    };
    assert_eq!(
        c.call(op::MEM_SET_ACCESS, reserved.as_bytes(), 64),
        Err(Status::InvalidField)
    );
    assert_eq!(c.get_access(base + 3 * G).0, result::INVALID_VALUE);
    let (r, _) = c.handle(
        op::MEM_RETAIN_ALLOCATION_HANDLE,
        PtrRequest {
            ctx: 0,
            dptr: base + 3 * G,
        }
        .as_bytes(),
    );
    assert_eq!(r, result::INVALID_VALUE);
    assert_eq!(c.release(0xdead), result::INVALID_VALUE);
}
