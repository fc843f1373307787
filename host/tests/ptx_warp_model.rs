//! Hand-written PTX for the edges of the simulator's warp and barrier
//! model that nvcc's output for ordinary kernels does not reach: named
//! barriers with thread counts and `bar.arrive`, deadlocks, and the
//! non-`.sync` (pre-Volta) warp instructions.

use vgpu_host::ptx::{launch, DeviceMemory, FlatMemory, LaunchConfig, LaunchError, Module};

const HEADER: &str = ".version 9.0\n.target sm_90\n.address_size 64\n";

fn run(body: &str, block: u32, out_words: usize) -> (Result<(), LaunchError>, Vec<u32>) {
    let m = Module::parse(&format!("{HEADER}{body}")).expect("parses");
    assert!(m.unsupported_instructions().is_empty());
    let k = &m.kernels()[0];
    let mut mem = FlatMemory::new(0x1000);
    let out = mem.alloc(out_words * 4, 256);
    let cfg = LaunchConfig {
        grid: [1, 1, 1],
        block: [block, 1, 1],
        dynamic_shared_bytes: 0,
    };
    let r = launch(k, &m, &out.to_le_bytes(), &|_| None, &cfg, &mut mem);
    let mut b = vec![0u8; out_words * 4];
    mem.read(out, &mut b).expect("readable");
    let words = b
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    (r, words)
}

/// Warps 0-1 produce into shared memory and `bar.arrive`; warps 2-3 wait
/// with `bar.sync 1, 128` and copy what the producers wrote.
const PRODUCER_CONSUMER: &str = r#"
.visible .entry pc(.param .u64 out)
{
	.reg .pred %p<2>;
	.reg .b32 %r<8>;
	.reg .b64 %rd<4>;
	.shared .align 4 .b8 buf[256];
	ld.param.u64 %rd1, [out];
	mov.u32 %r1, %tid.x;
	setp.ge.u32 %p1, %r1, 64;
	@%p1 bra $CONSUME;
	shl.b32 %r2, %r1, 2;
	mov.u32 %r3, buf;
	add.s32 %r4, %r3, %r2;
	mad.lo.s32 %r5, %r1, 3, 7;
	st.shared.u32 [%r4], %r5;
	bar.arrive 1, 128;
	ret;
$CONSUME:
	bar.sync 1, 128;
	sub.u32 %r2, %r1, 64;
	shl.b32 %r2, %r2, 2;
	mov.u32 %r3, buf;
	add.s32 %r4, %r3, %r2;
	ld.shared.u32 %r5, [%r4];
	cvt.u64.u32 %rd2, %r2;
	add.s64 %rd3, %rd1, %rd2;
	st.global.u32 [%rd3], %r5;
	ret;
}
"#;

#[test]
fn named_barrier_with_arrive_and_count() {
    let (r, w) = run(PRODUCER_CONSUMER, 128, 64);
    r.expect("launch");
    let want: Vec<u32> = (0..64).map(|t| t * 3 + 7).collect();
    assert_eq!(w, want);
}

/// Lanes 0-15 wait in a full-mask shuffle for lanes 16-31, which wait at a
/// CTA barrier for them: a GPU hangs; the simulator reports a deadlock.
const STUCK: &str = r#"
.visible .entry stuck(.param .u64 out)
{
	.reg .pred %p<2>;
	.reg .b32 %r<4>;
	mov.u32 %r1, %tid.x;
	setp.lt.u32 %p1, %r1, 16;
	@!%p1 bra $BAR;
	shfl.sync.idx.b32 %r2, %r1, 0, 31, -1;
$BAR:
	bar.sync 0;
	ret;
}
"#;

#[test]
fn a_shuffle_some_lanes_never_reach_is_a_deadlock() {
    match run(STUCK, 32, 1).0 {
        Err(LaunchError::Deadlock(why)) => assert!(why.contains("16 at warp"), "{why}"),
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

/// The non-`.sync` forms (PTX for sm_6x) act on the lanes running
/// together: after `@%p bra`, the odd lanes alone.
const LEGACY: &str = r#"
.visible .entry legacy(.param .u64 out)
{
	.reg .pred %p<3>;
	.reg .b32 %r<8>;
	.reg .b64 %rd<4>;
	ld.param.u64 %rd1, [out];
	mov.u32 %r1, %tid.x;
	and.b32 %r2, %r1, 1;
	setp.eq.u32 %p1, %r2, 0;
	mov.u32 %r3, 0;
	mov.u32 %r4, 0;
	@%p1 bra $JOIN;
	setp.gt.u32 %p2, %r1, 8;
	vote.ballot.b32 %r3, %p2;
	shfl.idx.b32 %r4, %r1, 1, 31;
$JOIN:
	activemask.b32 %r5;
	mul.wide.u32 %rd2, %r1, 12;
	add.s64 %rd3, %rd1, %rd2;
	st.global.u32 [%rd3], %r3;
	st.global.u32 [%rd3+4], %r4;
	st.global.u32 [%rd3+8], %r5;
	ret;
}
"#;

#[test]
fn non_sync_warp_instructions_use_the_running_lanes() {
    let (r, w) = run(LEGACY, 32, 96);
    r.expect("launch");
    for t in 0..32u32 {
        let odd = t & 1 == 1;
        let ballot = if odd { 0xAAAA_AA00 } else { 0 };
        let shfl = if odd { 1 } else { 0 };
        let got = &w[t as usize * 3..t as usize * 3 + 3];
        assert_eq!(got, [ballot, shfl, u32::MAX], "lane {t}");
    }
}
