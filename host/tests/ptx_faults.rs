//! What the PTX interpreter refuses or stops: out-of-bounds accesses,
//! unsupported instructions, bad launch shapes, traps, endless kernels, and
//! random mutations of valid modules (which must never panic it).

mod common;

use common::ptx::*;
use vgpu_host::ptx::limits::MAX_SHARED_BYTES_PER_BLOCK;
use vgpu_host::ptx::{launch, FlatMemory, LaunchConfig, LaunchError, Module};

#[test]
fn dynamic_shared_out_of_bounds_is_illegal() {
    let m = module(&[REDUCE]);
    let k = m.kernel("_Z10reduce_sumPKfPfi").unwrap();
    let mut mem = FlatMemory::new(0x1000);
    let din = mem.alloc_bytes(&f32s(&[1.0; 64]));
    let dout = mem.alloc(64, 256);
    let p = pack(k, &[V::U64(din), V::U64(dout), V::U32(64)]);
    // Only half the shared memory the block needs.
    let cfg = LaunchConfig {
        grid: [1, 1, 1],
        block: [32, 1, 1],
        dynamic_shared_bytes: 64,
    };
    assert_eq!(
        launch(k, &m, &p, &no_globals, &cfg, &mut mem),
        Err(LaunchError::IllegalAddress { addr: 64 })
    );
}

#[test]
fn out_of_bounds_store_is_illegal_address() {
    let m = module(&[VECADD]);
    let k = m.kernel("_Z6vecaddPKfS0_Pfi").unwrap();
    let mut mem = FlatMemory::new(0x1000);
    let da = mem.alloc_bytes(&f32s(&[1.0; 64]));
    let db = mem.alloc_bytes(&f32s(&[2.0; 64]));
    let dc = mem.alloc(64 * 4, 256);
    let end = dc + 64 * 4;
    // Claim 100 elements: a and b are read in bounds first? No: a ends
    // before c, so the first faulting access is the load of b[64]... use an
    // output placed last so the store faults.
    let p = pack(k, &[V::U64(da), V::U64(db), V::U64(dc), V::U32(65)]);
    // b[64] lies inside c's allocation, a[64] inside b's: only the store faults.
    let r = launch(k, &m, &p, &no_globals, &cfg1(1, 128), &mut mem);
    assert_eq!(r, Err(LaunchError::IllegalAddress { addr: end }));
    // Null pointers fault on the first load.
    let p = pack(k, &[V::U64(0), V::U64(db), V::U64(dc), V::U32(1)]);
    let r = launch(k, &m, &p, &no_globals, &cfg1(1, 1), &mut mem);
    assert_eq!(r, Err(LaunchError::IllegalAddress { addr: 0 }));
}

#[test]
fn unsupported_instruction_fails_only_its_kernel() {
    let m = module(&[EXOTIC, VECADD]);
    let shuff = m.kernel("_Z6shuffPi").unwrap();
    let mut mem = FlatMemory::new(0x1000);
    let d = mem.alloc(4, 256);
    let r = launch(
        shuff,
        &m,
        &pack(shuff, &[V::U64(d)]),
        &no_globals,
        &cfg1(1, 32),
        &mut mem,
    );
    match r {
        Err(LaunchError::Unsupported { instruction, line }) => {
            assert!(instruction.starts_with("mma.sync.aligned"), "{instruction}");
            let text = format!("{HEADER}{EXOTIC}");
            let want = text.lines().position(|l| l.contains("mma.sync")).unwrap() + 1;
            assert_eq!(line, want);
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let k = m.kernel("_Z6vecaddPKfS0_Pfi").unwrap();
    let da = mem.alloc_bytes(&f32s(&[1.5; 4]));
    let dc = mem.alloc(16, 256);
    let p = pack(k, &[V::U64(da), V::U64(da), V::U64(dc), V::U32(4)]);
    launch(k, &m, &p, &no_globals, &cfg1(1, 4), &mut mem).unwrap();
    assert_eq!(read_f32s(&mut mem, dc, 4), [3.0; 4]);
}

#[test]
fn launch_config_validation() {
    let m = module(&[VECADD]);
    let k = m.kernel("_Z6vecaddPKfS0_Pfi").unwrap();
    let p = vec![0u8; 28];
    let mut mem = FlatMemory::new(0x1000);
    let bad = [
        LaunchConfig {
            grid: [0, 1, 1],
            block: [1, 1, 1],
            dynamic_shared_bytes: 0,
        },
        LaunchConfig {
            grid: [1, 1, 1],
            block: [1025, 1, 1],
            dynamic_shared_bytes: 0,
        },
        LaunchConfig {
            grid: [1, 1, 1],
            block: [32, 32, 2],
            dynamic_shared_bytes: 0,
        },
        LaunchConfig {
            grid: [1, 1, 1],
            block: [32, 1, 1],
            dynamic_shared_bytes: MAX_SHARED_BYTES_PER_BLOCK + 1,
        },
    ];
    for c in bad {
        assert!(
            matches!(
                launch(k, &m, &p, &no_globals, &c, &mut mem),
                Err(LaunchError::InvalidConfig(_))
            ),
            "{c:?}"
        );
    }
    let ok = LaunchConfig {
        grid: [1, 1, 1],
        block: [32, 32, 1],
        dynamic_shared_bytes: MAX_SHARED_BYTES_PER_BLOCK,
    };
    launch(k, &m, &p, &no_globals, &ok, &mut mem).unwrap();
}

#[test]
fn trap_fails_launch() {
    let m = module(&[".visible .entry k()\n{\n\ttrap;\n}\n"]);
    let k = m.kernel("k").unwrap();
    let mut mem = FlatMemory::new(0x1000);
    assert_eq!(
        launch(k, &m, &[], &no_globals, &cfg1(1, 1), &mut mem),
        Err(LaunchError::Trap)
    );
}

/// Random mutations of valid modules must never panic the parser, and
/// random launches of a valid kernel must never panic the interpreter.
#[test]
fn fuzz_parser_and_launch_never_panic() {
    let base = format!("{HEADER}{VECADD}{REDUCE}{ATOMICS}{GLOBALS}{CALLS}{EDGES}{INDEX3D}");
    let palette: &[u8] = b"{}[]();:.,%@!-+|<>=0123456789abcdfxr_$ \n\t\"/*";
    let words = [
        ".reg",
        ".param",
        ".shared",
        ".entry",
        ".func",
        "%r1",
        "%rd1",
        "%p1",
        "$L__BB0_2",
        "0f3F800000",
        "[%rd1+4]",
        "{%r1, %r2}",
        "<99999>",
        "bra",
        "call.uni",
        "ld.global.v4.f32",
        "-9999999999999999999999",
        "0d",
        "@!%p1",
        "(",
        ")",
    ];
    let mut rng = Rng(0xC0FFEE);
    let mut parsed = 0;
    for _ in 0..3000 {
        let mut t = base.clone().into_bytes();
        for _ in 0..1 + rng.next() % 4 {
            let len = t.len().max(1) as u64;
            let at = (rng.next() % len) as usize;
            match rng.next() % 5 {
                0 => {
                    let n = (rng.next() % 16) as usize;
                    t.drain(at..(at + n).min(t.len()));
                }
                1 => t.insert(at, palette[(rng.next() % palette.len() as u64) as usize]),
                2 => {
                    let w = words[(rng.next() % words.len() as u64) as usize];
                    t.splice(at..at, w.bytes());
                }
                3 => {
                    let from = (rng.next() % len) as usize;
                    let n = (rng.next() % 40) as usize;
                    let chunk: Vec<u8> = t[from..(from + n).min(t.len())].to_vec();
                    t.splice(at..at, chunk);
                }
                _ => t.truncate(at),
            }
        }
        let text = String::from_utf8_lossy(&t);
        if let Ok(m) = Module::parse(&text) {
            parsed += 1;
            let _ = m.kernels().iter().map(|k| k.params.len()).sum::<usize>();
        }
    }
    assert!(parsed > 0, "some mutations should still parse");

    let m = module(&[VECADD, EDGES]);
    let mut mem = FlatMemory::new(0x1000);
    let buf = mem.alloc(4096, 256);
    for _ in 0..300 {
        for k in m.kernels() {
            let mut p = vec![0u8; (rng.next() % 40) as usize];
            for b in p.iter_mut() {
                *b = rng.next() as u8;
            }
            if rng.next() & 1 == 0 && p.len() >= 8 {
                p[..8].copy_from_slice(&(buf + rng.next() % 8192).to_le_bytes());
            }
            let cfg = LaunchConfig {
                grid: [1 + (rng.next() % 3) as u32, 1, 1],
                block: [(rng.next() % 70) as u32, 1, 1 + (rng.next() % 2) as u32],
                dynamic_shared_bytes: 0,
            };
            let _ = launch(k, &m, &p, &no_globals, &cfg, &mut mem);
        }
    }
}

#[test]
fn the_watchdog_stops_a_kernel_that_never_ends() {
    let text = r#"
.version 8.0
.target sm_52
.address_size 64
.visible .entry spin()
{
$L__top:
	bra.uni 	$L__top;
}
"#;
    let module = vgpu_host::ptx::Module::parse(text).expect("parses");
    let kernel = module.kernel("spin").expect("kernel");
    let cfg = vgpu_host::ptx::LaunchConfig {
        grid: [1, 1, 1],
        block: [1, 1, 1],
        dynamic_shared_bytes: 0,
    };
    let mut mem = vgpu_host::ptx::FlatMemory::new(0x1000);
    let t0 = std::time::Instant::now();
    let r = vgpu_host::ptx::launch_within(
        kernel,
        &module,
        &[],
        &|_| None,
        &cfg,
        &mut mem,
        std::time::Duration::from_millis(200),
    );
    assert!(
        matches!(r, Err(vgpu_host::ptx::LaunchError::Timeout)),
        "{r:?}"
    );
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
}
