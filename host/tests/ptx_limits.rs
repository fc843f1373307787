//! The interpreter's host memory and time are bounded per launch, whatever
//! the kernel declares or the grid asks (review findings H3.3 and H4).

use vgpu_host::ptx::{launch, FlatMemory, LaunchConfig, LaunchError, Module};

const HEADER: &str = ".version 8.0\n.target sm_90\n.address_size 64\n";

fn module(body: &str) -> Module {
    Module::parse(&format!("{HEADER}{body}")).expect("parses")
}

fn threads(n: u32) -> LaunchConfig {
    LaunchConfig {
        grid: [1, 1, 1],
        block: [n, 1, 1],
        dynamic_shared_bytes: 0,
    }
}

/// 16 MiB of local memory per thread (the most one frame may declare).
const BIG_LOCAL: &str = r#"
.visible .entry big()
{
	.local .align 8 .b8 	depot[16777216];
	.reg .b64 	%rd<2>;
	.reg .b32 	%r<2>;
	mov.u64 	%rd1, depot;
	mov.u32 	%r1, 1;
	st.local.u32 	[%rd1+16777212], %r1;
	ret;
}
"#;

#[test]
fn local_memory_times_threads_is_bounded_per_launch() {
    let m = module(BIG_LOCAL);
    let k = m.kernel("big").expect("kernel");
    let mut mem = FlatMemory::new(0x1000);
    // One thread may have its 16 MiB.
    assert_eq!(launch(k, &m, &[], &|_| None, &threads(1), &mut mem), Ok(()));
    // 64 threads would commit 1 GiB of host memory (1024 threads: 16 GiB).
    let r = launch(k, &m, &[], &|_| None, &threads(64), &mut mem);
    assert!(matches!(r, Err(LaunchError::OutOfResources(_))), "{r:?}");
}

/// Endless recursion through a function with a 128 KiB parameter: each
/// frame adds its parameter area and the call's argument area.
const DEEP_PARAMS: &str = r#"
.func  (.param .b32 func_retval0) down(
	.param .align 4 .b8 down_param_0[131072]
)
{
	.reg .b32 	%r<3>;
	ld.param.u32 	%r1, [down_param_0+0];
	{
	.param .align 4 .b8 param0[131072];
	st.param.b32 	[param0+0], %r1;
	.param .b32 retval0;
	call.uni (retval0), down, (param0);
	ld.param.b32 	%r2, [retval0+0];
	}
	st.param.b32 	[func_retval0+0], %r2;
	ret;
}

.visible .entry deep()
{
	.reg .b32 	%r<3>;
	mov.u32 	%r1, 1;
	{
	.param .align 4 .b8 param0[131072];
	st.param.b32 	[param0+0], %r1;
	.param .b32 retval0;
	call.uni (retval0), down, (param0);
	ld.param.b32 	%r2, [retval0+0];
	}
	ret;
}
"#;

#[test]
fn call_frames_are_bounded_by_the_same_per_thread_budget() {
    let m = module(DEEP_PARAMS);
    let k = m.kernel("deep").expect("kernel");
    let mut mem = FlatMemory::new(0x1000);
    // 1024 frames of 256 KiB per thread, 2 threads: 512 MiB of scratch
    // before the call depth limit would stop it.
    let r = launch(k, &m, &[], &|_| None, &threads(2), &mut mem);
    assert!(matches!(r, Err(LaunchError::OutOfResources(_))), "{r:?}");
}

#[test]
fn the_lexer_refuses_a_module_whose_tokens_outgrow_its_budget() {
    // One token (about 56 host bytes) per byte of text: 6 MiB of `;` took
    // some 350 MiB before the parser saw any of it (a 1 GiB image: 56 GiB).
    let text = format!("{HEADER}{}", ";".repeat(6 << 20));
    let e = Module::parse(&text).expect_err("refused");
    assert!(e.reason.contains("too large"), "{e}");
    // Ordinary modules are far below it.
    assert!(Module::parse(&format!("{HEADER}{BIG_LOCAL}")).is_ok());
}

#[test]
fn module_variables_take_host_memory_only_for_their_initialisers() {
    // Every variable's zeros were materialised at parse time (1 GiB each,
    // any number of them, outside the device memory the simulator counts).
    let m = module(
        ".global .align 8 .b8 zeros[268435456];\n\
         .global .align 4 .u32 some[1048576] = {1, 2};\n",
    );
    let g = m.globals();
    assert_eq!((g[0].size, g[0].init.len()), (256 << 20, 0));
    assert_eq!(
        (g[1].size, g[1].init.as_slice()),
        (4 << 20, &[1, 0, 0, 0, 2, 0, 0, 0][..])
    );
    assert_eq!(g[1].image().len(), 4 << 20);
}

fn grid(x: u32, y: u32, z: u32) -> LaunchConfig {
    LaunchConfig {
        grid: [x, y, z],
        block: [1, 1, 1],
        dynamic_shared_bytes: 0,
    }
}

#[test]
fn the_watchdog_covers_the_whole_grid_not_one_block() {
    use std::time::{Duration, Instant};
    // Each block ends at once; the grid has 2.8e14 of them.
    for body in [
        ".visible .entry k()\n{\n\tret;\n}\n",
        ".visible .entry k()\n{\n}\n",
    ] {
        let m = module(body);
        let k = m.kernel("k").expect("kernel");
        let mut mem = FlatMemory::new(0x1000);
        let t0 = Instant::now();
        let r = vgpu_host::ptx::launch_within(
            k,
            &m,
            &[],
            &|_| None,
            &grid(i32::MAX as u32, 65535, 65535),
            &mut mem,
            Duration::from_millis(200),
        );
        assert_eq!(r, Err(LaunchError::Timeout), "{body}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{body}");
    }
}

#[test]
fn a_cancelled_launch_stops_promptly() {
    use std::time::{Duration, Instant};
    let m = module(".visible .entry spin()\n{\n$L__top:\n\tbra.uni \t$L__top;\n}\n");
    let k = m.kernel("spin").expect("kernel");
    let mut mem = FlatMemory::new(0x1000);
    let t0 = Instant::now();
    let watchdog = vgpu_host::ptx::Watchdog {
        limit: Duration::from_secs(600),
        cancelled: &|| t0.elapsed() > Duration::from_millis(100),
    };
    let r =
        vgpu_host::ptx::launch_watched(k, &m, &[], &|_| None, &threads(64), &mut mem, &watchdog);
    assert_eq!(r, Err(LaunchError::Cancelled));
    assert!(t0.elapsed() < Duration::from_secs(5));
}
