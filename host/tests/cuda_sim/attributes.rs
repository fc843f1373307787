//! Function attributes, the dynamic shared memory opt-in, occupancy,
//! context limits and extended launches.

use uapi::cuda::{
    func_attribute, launch_attribute, occupancy, op, result, LaunchAttribute, LaunchExRequest,
    LimitRequest,
};
use uapi::status::Status;
use uapi::wire::Wire;

use crate::client::*;

#[test]
fn function_attributes_and_the_dynamic_shared_memory_opt_in() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let a = c.attributes(f);
    assert_eq!(a[func_attribute::MAX_THREADS_PER_BLOCK as usize], 1024);
    assert_eq!(a[func_attribute::SHARED_SIZE_BYTES as usize], 1024);
    assert_eq!(a[func_attribute::PTX_VERSION as usize], 90);
    assert_eq!(
        a[func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES as usize],
        48 * 1024 - 1024
    );
    let out = c.alloc(256);
    let params = out.to_le_bytes();
    // 64 KiB of dynamic shared memory needs the opt-in first, as on a GPU.
    c.launch_ex(f, 64 * 1024, &[], &params).expect("status ok");
    assert_eq!(c.sync(), result::INVALID_VALUE);
    let dyn_attr = func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES;
    assert_eq!(c.set_attribute(f, dyn_attr, 300_000), result::INVALID_VALUE);
    assert_eq!(
        c.set_attribute(f, func_attribute::NUM_REGS, 8),
        result::INVALID_VALUE
    );
    assert_eq!(c.set_attribute(f, dyn_attr, 64 * 1024), result::SUCCESS);
    assert_eq!(c.attributes(f)[dyn_attr as usize], 64 * 1024);
    c.launch_ex(f, 64 * 1024, &[], &params).expect("status ok");
    assert_eq!(c.sync(), result::SUCCESS);
    let (r, bytes) = c.dtoh(out, 256);
    assert_eq!(r, result::SUCCESS);
    let got: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(got, (0..64).map(|t| 2 * t).collect::<Vec<u32>>());
}

#[test]
fn occupancy_follows_the_multiprocessor_limits() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let blocks = |c: &mut Client, size| {
        c.value(
            op::OCCUPANCY,
            occupancy(occupancy::MAX_ACTIVE_BLOCKS, f, size, 0).as_bytes(),
        )
    };
    // 2048 threads per multiprocessor bound these.
    assert_eq!(blocks(&mut c, 256), (result::SUCCESS, 8));
    assert_eq!(blocks(&mut c, 1024), (result::SUCCESS, 2));
    assert_eq!(blocks(&mut c, 2048), (result::SUCCESS, 0));
    let smem = |c: &mut Client, n| {
        c.value(
            op::OCCUPANCY,
            occupancy(occupancy::AVAILABLE_DYNAMIC_SMEM, f, 256, n).as_bytes(),
        )
    };
    assert_eq!(smem(&mut c, 2), (result::SUCCESS, 48 * 1024 - 1024));
    let dyn_attr = func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES;
    assert_eq!(c.set_attribute(f, dyn_attr, 200_000), result::SUCCESS);
    // Half of the 228 KiB less the per-block reserve and the static 1 KiB.
    assert_eq!(smem(&mut c, 2), (result::SUCCESS, 233_472 / 2 - 2048));
    assert_eq!(smem(&mut c, 0).0, result::INVALID_VALUE);
    let bad = occupancy(99, f, 256, 1);
    assert_eq!(
        c.value(op::OCCUPANCY, bad.as_bytes()).0,
        result::INVALID_VALUE
    );
    let unknown = occupancy(occupancy::MAX_ACTIVE_BLOCKS, 0x1234, 256, 0);
    assert_eq!(
        c.value(op::OCCUPANCY, unknown.as_bytes()).0,
        result::INVALID_HANDLE
    );
}

#[test]
fn context_limits_are_kept() {
    let mut c = Client::new();
    let get = |c: &mut Client, limit| {
        c.value(
            op::CTX_GET_LIMIT,
            LimitRequest {
                limit,
                ..Default::default()
            }
            .as_bytes(),
        )
    };
    assert_eq!(get(&mut c, 0), (result::SUCCESS, 1024));
    let set = LimitRequest {
        limit: 0,
        value: 4096,
        ..Default::default()
    };
    assert_eq!(c.result(op::CTX_SET_LIMIT, set.as_bytes()), result::SUCCESS);
    assert_eq!(get(&mut c, 0), (result::SUCCESS, 4096));
    assert_eq!(get(&mut c, 99).0, result::UNSUPPORTED_LIMIT);
}

#[test]
fn extended_launches_carry_hints_and_refuse_what_they_cannot() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let out = c.alloc(256);
    let params = out.to_le_bytes();
    let mut priority = LaunchAttribute {
        id: launch_attribute::PRIORITY,
        ..Default::default()
    };
    priority.value[0] = 1;
    c.launch_ex(f, 256, &[priority], &params)
        .expect("status ok");
    assert_eq!(c.sync(), result::SUCCESS);
    let mut cluster = LaunchAttribute {
        id: launch_attribute::CLUSTER_DIMENSION,
        ..Default::default()
    };
    cluster.value[0] = 2 | (1 << 32);
    cluster.value[1] = 1;
    c.launch_ex(f, 256, &[cluster], &params).expect("status ok");
    assert_eq!(c.sync(), result::NOT_SUPPORTED);
    // An attribute holding a handle (PROGRAMMATIC_EVENT) never travels.
    let event = LaunchAttribute {
        id: 7,
        ..Default::default()
    };
    assert_eq!(
        c.launch_ex(f, 256, &[event], &params),
        Err(Status::InvalidField)
    );
    // A count that disagrees with the tail is malformed.
    let mut req = LaunchExRequest {
        attr_count: 1,
        ..Default::default()
    }
    .as_bytes()
    .to_vec();
    req.extend_from_slice(&params);
    assert_eq!(c.call(op::LAUNCH_EX, &req, 0), Err(Status::InvalidField));
}
