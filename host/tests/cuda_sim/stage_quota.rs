//! Staged module images are bounded per executor, not only per client
//! (review finding H5): 128 queues of one VM each held up to 2 GiB.

use std::sync::Arc;
use uapi::cmd::DeviceInfo;
use uapi::cuda::{op, result, CtxRequest, ResultHeader, StageRequest};
use uapi::wire::Wire;
use vgpu_host::cancel::CancelToken;
use vgpu_host::cuda::stage::StageBudget;
use vgpu_host::cuda::CudaClient;
use vgpu_host::executor::sim::{AddressSpace, SimBackend};

fn client(budget: &Arc<StageBudget>) -> CudaClient {
    let info = DeviceInfo::default();
    let backend = SimBackend::new(
        info,
        Arc::new(vec![0; uapi::cuda::ATTRIBUTE_COUNT]),
        Arc::new(AddressSpace::new(1 << 30)),
    );
    CudaClient::with_stage_budget(Box::new(backend), budget.clone())
}

fn stage(c: &mut CudaClient, offset: u64, len: usize) {
    let mut req = StageRequest { ctx: 0, offset }.as_bytes().to_vec();
    req.resize(req.len() + len, b' ');
    assert_eq!(
        c.execute(op::MODULE_STAGE, &req, 0, &CancelToken::new()),
        Ok(vec![])
    );
}

fn sync(c: &mut CudaClient) -> u32 {
    let out = c
        .execute(
            op::CTX_SYNCHRONIZE,
            CtxRequest { ctx: 0 }.as_bytes(),
            64,
            &CancelToken::new(),
        )
        .expect("status ok");
    ResultHeader::read_from(&out).expect("header").result
}

#[test]
fn staged_images_share_one_budget_per_executor() {
    let budget = StageBudget::new(1 << 20);
    let (mut a, mut b) = (client(&budget), client(&budget));
    stage(&mut a, 0, 600 << 10);
    assert_eq!(sync(&mut a), result::SUCCESS);
    // The second client's image would take the executor past its budget.
    stage(&mut b, 0, 600 << 10);
    assert_eq!(sync(&mut b), result::OUT_OF_MEMORY);
    // Growth counts as capacity: doubling past the budget is refused too.
    stage(&mut a, 600 << 10, 300 << 10);
    assert_eq!(sync(&mut a), result::OUT_OF_MEMORY);
    assert_eq!(budget.used(), 0, "a refused image is dropped");
    stage(&mut b, 0, 600 << 10);
    assert_eq!(sync(&mut b), result::SUCCESS);
    let held = budget.used();
    assert!(held >= 600 << 10, "{held}");
    // A client that goes away gives its bytes back.
    drop(b);
    assert_eq!(budget.used(), 0);
}
