//! Throughput of the PTX interpreter on a 1M-element vector add. Run with
//! `cargo test --release -p vgpu-host --test ptx_perf -- --nocapture` for a
//! meaningful figure; debug builds use a smaller vector.

use std::time::Instant;

use vgpu_host::ptx::{launch, DeviceMemory, FlatMemory, LaunchConfig, Module};

const VECADD: &str = r#"
.version 8.4
.target sm_90
.address_size 64

.visible .entry _Z6vecaddPKfS0_Pfi(
	.param .u64 _Z6vecaddPKfS0_Pfi_param_0,
	.param .u64 _Z6vecaddPKfS0_Pfi_param_1,
	.param .u64 _Z6vecaddPKfS0_Pfi_param_2,
	.param .u32 _Z6vecaddPKfS0_Pfi_param_3
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<6>;
	.reg .f32 	%f<4>;
	.reg .b64 	%rd<11>;


	ld.param.u64 	%rd1, [_Z6vecaddPKfS0_Pfi_param_0];
	ld.param.u64 	%rd2, [_Z6vecaddPKfS0_Pfi_param_1];
	ld.param.u64 	%rd3, [_Z6vecaddPKfS0_Pfi_param_2];
	ld.param.u32 	%r2, [_Z6vecaddPKfS0_Pfi_param_3];
	mov.u32 	%r3, %ntid.x;
	mov.u32 	%r4, %ctaid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r4, %r3, %r5;
	setp.ge.s32 	%p1, %r1, %r2;
	@%p1 bra 	$L__BB0_2;

	cvta.to.global.u64 	%rd4, %rd1;
	mul.wide.s32 	%rd5, %r1, 4;
	add.s64 	%rd6, %rd4, %rd5;
	cvta.to.global.u64 	%rd7, %rd2;
	add.s64 	%rd8, %rd7, %rd5;
	ld.global.f32 	%f1, [%rd8];
	ld.global.f32 	%f2, [%rd6];
	add.f32 	%f3, %f2, %f1;
	cvta.to.global.u64 	%rd9, %rd3;
	add.s64 	%rd10, %rd9, %rd5;
	st.global.f32 	[%rd10], %f3;

$L__BB0_2:
	ret;

}
"#;

#[test]
fn vecadd_throughput() {
    let n: usize = if cfg!(debug_assertions) {
        1 << 16
    } else {
        1 << 20
    };
    let m = Module::parse(VECADD).unwrap();
    let k = m.kernel("_Z6vecaddPKfS0_Pfi").unwrap();
    let a: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let b: Vec<u8> = (0..n)
        .flat_map(|i| (0.5 * i as f32).to_le_bytes())
        .collect();
    let mut mem = FlatMemory::new(0x10_0000);
    let (da, db, dc) = (
        mem.alloc_bytes(&a),
        mem.alloc_bytes(&b),
        mem.alloc(n * 4, 256),
    );
    let mut p = Vec::new();
    for v in [da, db, dc] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    p.extend_from_slice(&(n as u32).to_le_bytes());
    let cfg = LaunchConfig {
        grid: [(n as u32).div_ceil(256), 1, 1],
        block: [256, 1, 1],
        dynamic_shared_bytes: 0,
    };
    let t = Instant::now();
    launch(k, &m, &p, &|_| None, &cfg, &mut mem).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "vecadd: {n} elements in {:.3} s = {:.1} M elements/s",
        secs,
        n as f64 / secs / 1e6
    );
    let mut out = vec![0u8; n * 4];
    mem.read(dc, &mut out).unwrap();
    for (i, c) in out.chunks(4).enumerate() {
        assert_eq!(
            f32::from_le_bytes(c.try_into().unwrap()),
            i as f32 + 0.5 * i as f32
        );
    }
}
