//! Stream-ordered allocations and memory pools.

use uapi::cuda::{copy_flags, op, pool_attr, result, MemPoolRequest};
use uapi::status::Status;
use uapi::wire::Wire;

use crate::client::*;

#[test]
fn stream_ordered_allocations_are_device_memory_until_freed() {
    let mut c = Client::new();
    let n = 250u32;
    let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut bufs = [0u64; 3];
    for b in &mut bufs {
        let (r, p) = c.alloc_async(1000, 2);
        assert_eq!(r, result::SUCCESS);
        *b = p;
    }
    let [da, db, dc] = bufs;
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_CURRENT), (0, 3000));
    // Copies and launches accept pool memory.
    assert!(c.htod(da, &floats(&a), copy_flags::ASYNC).is_ok());
    assert!(c.htod(db, &floats(&a), 0).is_ok());
    let (f, _) = c.load_vecadd();
    c.launch(f, 1, 256, &vecadd_params(da, db, dc, n));
    let (r, out) = c.dtoh(dc, 1000);
    assert_eq!(r, result::SUCCESS);
    let twice: Vec<f32> = a.iter().map(|x| x * 2.0).collect();
    assert_eq!(out, floats(&twice));
    // Freed in stream order: detached, and gone for later commands.
    assert_eq!(c.free_async(dc), Vec::<u8>::new());
    assert_eq!(c.dtoh(dc, 4).0, result::INVALID_VALUE);
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_CURRENT), (0, 2000));
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_HIGH), (0, 3000));
    // Any allocation may be freed so; an inner address is an error that
    // the next command with a response reports.
    let plain = c.alloc(64);
    assert_eq!(c.free_async(plain), Vec::<u8>::new());
    assert_eq!(c.free_async(da + 4), Vec::<u8>::new());
    assert_eq!(
        c.pool_get(0, pool_attr::USED_MEM_CURRENT).0,
        result::INVALID_VALUE
    );
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_CURRENT), (0, 2000));
    assert_eq!(c.alloc_async(0, 0).0, result::INVALID_VALUE);
}

#[test]
fn pool_attributes_behave_as_nvidias() {
    let mut c = Client::new();
    assert_eq!(c.pool_get(0, pool_attr::REUSE_ALLOW_OPPORTUNISTIC), (0, 1));
    assert_eq!(c.pool_get(0, pool_attr::RELEASE_THRESHOLD), (0, 0));
    assert_eq!(c.pool_set(pool_attr::RELEASE_THRESHOLD, u64::MAX), 0);
    assert_eq!(c.pool_get(0, pool_attr::RELEASE_THRESHOLD), (0, u64::MAX));
    assert_eq!(c.pool_set(pool_attr::REUSE_ALLOW_OPPORTUNISTIC, 0), 0);
    assert_eq!(c.pool_get(0, pool_attr::REUSE_ALLOW_OPPORTUNISTIC), (0, 0));
    assert_eq!(
        c.pool_set(pool_attr::USED_MEM_CURRENT, 5),
        result::INVALID_VALUE
    );
    assert_eq!(
        c.pool_set(pool_attr::USED_MEM_HIGH, 5),
        result::INVALID_VALUE
    );
    assert_eq!(c.pool_set(pool_attr::USED_MEM_HIGH, 0), 0);
    assert_eq!(c.pool_get(0, 0).0, result::INVALID_VALUE);
    assert_eq!(c.pool_get(0, 9).0, result::INVALID_VALUE);
    assert_eq!(c.pool_get(5, 1).0, result::INVALID_VALUE, "one pool only");
    let trim = MemPoolRequest {
        value: 4096,
        ..Default::default()
    };
    assert_eq!(c.result(op::MEM_POOL_TRIM_TO, trim.as_bytes()), 0);
    let bad = MemPoolRequest { attr: 1, ..trim };
    assert_eq!(
        c.call(op::MEM_POOL_TRIM_TO, bad.as_bytes(), 64),
        Err(Status::InvalidField)
    );
    assert_eq!(
        c.call(op::MEM_ALLOC_ASYNC, &[0; 8], 64),
        Err(Status::InvalidField)
    );
}
