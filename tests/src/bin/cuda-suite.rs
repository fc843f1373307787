//! Cross-layer CUDA driver API suite. Loads `libcuda.so.1` at run time
//! (libloading), so the same binary runs against vgpu's library in a guest
//! (or over `VGPU_SOCKET`) and against NVIDIA's on the GPU machine; the
//! `DIGEST` lines of the two runs must match bit for bit.
//!
//! Usage: `cuda-suite [--native] [--only CASE,...] [--roundtrip-mib N]`.
//! `--native` (the library is NVIDIA's) skips the checks whose behaviour
//! NVIDIA's driver leaves undefined: a destroyed stream's handle (SIGSEGV
//! on driver 13000) and a wrong-size `extra` buffer (unchecked). Prints
//! `CASE <name> PASS|FAIL <detail>`, `DIGEST <case> <hex>` and a final
//! `N passed, N failed`; exits non-zero on any failure.
#![allow(non_snake_case)]

use std::{
    ffi::{c_char, c_int, c_uint, c_void, CStr},
    process::ExitCode,
    ptr::null_mut,
    time::Instant,
};

use libloading::Library;

type Ptr = *mut c_void;
type CuRes = u32;

const SUCCESS: u32 = 0;
const INVALID_VALUE: u32 = 1;
const LAUNCH_OUT_OF_RESOURCES: u32 = 701;
const INVALID_HANDLE: u32 = 400;
const ILLEGAL_ADDRESS: u32 = 700;
const BLOCK: u32 = 256;

macro_rules! api {
    ($($name:ident = fn($($t:ty),*);)*) => {
        #[allow(non_snake_case)]
        struct Api {
            _lib: Library,
            $($name: unsafe extern "C" fn($($t),*) -> CuRes,)*
        }
        impl Api {
            fn load() -> Result<Self, String> {
                // SAFETY: loading the CUDA driver runs its initialisers only.
                let lib = unsafe { Library::new("libcuda.so.1") }
                    .map_err(|e| format!("libcuda.so.1: {e}"))?;
                $(
                    // SAFETY: the driver API's documented signature.
                    let $name = *unsafe {
                        lib.get::<unsafe extern "C" fn($($t),*) -> CuRes>(
                            concat!(stringify!($name), "\0").as_bytes(),
                        )
                    }
                    .map_err(|e| format!("{}: {e}", stringify!($name)))?;
                )*
                Ok(Self { _lib: lib, $($name),* })
            }
        }
    };
}

api! {
    cuInit = fn(c_uint);
    cuDriverGetVersion = fn(*mut c_int);
    cuDeviceGet = fn(*mut c_int, c_int);
    cuDeviceGetName = fn(*mut c_char, c_int, c_int);
    cuDevicePrimaryCtxRetain = fn(*mut Ptr, c_int);
    cuCtxSetCurrent = fn(Ptr);
    cuCtxSynchronize = fn();
    cuGetErrorName = fn(u32, *mut *const c_char);
    cuModuleLoadData = fn(*mut Ptr, *const c_void);
    cuModuleGetFunction = fn(*mut Ptr, Ptr, *const c_char);
    cuModuleGetGlobal_v2 = fn(*mut u64, *mut usize, Ptr, *const c_char);
    cuMemAlloc_v2 = fn(*mut u64, usize);
    cuMemFree_v2 = fn(u64);
    cuMemcpyHtoD_v2 = fn(u64, *const c_void, usize);
    cuMemcpyDtoH_v2 = fn(*mut c_void, u64, usize);
    cuMemcpyHtoDAsync_v2 = fn(u64, *const c_void, usize, Ptr);
    cuMemcpy2D_v2 = fn(*const Memcpy2d);
    cuMemsetD8_v2 = fn(u64, u8, usize);
    cuMemsetD16_v2 = fn(u64, u16, usize);
    cuMemsetD32_v2 = fn(u64, u32, usize);
    cuMemsetD2D32_v2 = fn(u64, usize, u32, usize, usize);
    cuLaunchKernel = fn(Ptr, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, Ptr, *mut Ptr, *mut Ptr);
    cuStreamCreate = fn(*mut Ptr, c_uint);
    cuStreamDestroy_v2 = fn(Ptr);
    cuStreamSynchronize = fn(Ptr);
    cuStreamQuery = fn(Ptr);
    cuStreamWaitEvent = fn(Ptr, Ptr, c_uint);
    cuEventCreate = fn(*mut Ptr, c_uint);
    cuEventRecord = fn(Ptr, Ptr);
    cuEventQuery = fn(Ptr);
    cuEventSynchronize = fn(Ptr);
    cuEventElapsedTime = fn(*mut f32, Ptr, Ptr);
    cuEventDestroy_v2 = fn(Ptr);
}

/// `CUDA_MEMCPY2D`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Memcpy2d {
    src_x: usize,
    src_y: usize,
    src_type: u32,
    src_host: *const c_void,
    src_device: u64,
    src_array: Ptr,
    src_pitch: usize,
    dst_x: usize,
    dst_y: usize,
    dst_type: u32,
    dst_host: Ptr,
    dst_device: u64,
    dst_array: Ptr,
    dst_pitch: usize,
    width: usize,
    height: usize,
}

const MT_HOST: u32 = 1;
const MT_DEVICE: u32 = 2;

/// Hand-written PTX in nvcc style, limited to what the simulator supports.
fn ptx() -> String {
    let mut s = String::from(
        r#".version 8.0
.target sm_52
.address_size 64

.extern .shared .align 4 .b8 sdata[];
.visible .global .align 4 .u32 g_vals[4] = {1, 2, 3, 4};

.visible .entry vecadd(
	.param .u64 vecadd_param_0,
	.param .u64 vecadd_param_1,
	.param .u64 vecadd_param_2,
	.param .u32 vecadd_param_3
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<6>;
	.reg .f32 	%f<4>;
	.reg .b64 	%rd<12>;

	ld.param.u64 	%rd1, [vecadd_param_0];
	ld.param.u64 	%rd2, [vecadd_param_1];
	ld.param.u64 	%rd3, [vecadd_param_2];
	ld.param.u32 	%r2, [vecadd_param_3];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r3, %r4, %r5;
	setp.ge.u32 	%p1, %r1, %r2;
	@%p1 bra 	$L__vecadd_done;
	cvta.to.global.u64 	%rd4, %rd1;
	cvta.to.global.u64 	%rd5, %rd2;
	cvta.to.global.u64 	%rd6, %rd3;
	cvt.u64.u32 	%rd7, %r1;
	mul.lo.u64 	%rd8, %rd7, 4;
	add.s64 	%rd9, %rd4, %rd8;
	ld.global.f32 	%f1, [%rd9];
	add.s64 	%rd10, %rd5, %rd8;
	ld.global.f32 	%f2, [%rd10];
	add.f32 	%f3, %f1, %f2;
	add.s64 	%rd11, %rd6, %rd8;
	st.global.f32 	[%rd11], %f3;
$L__vecadd_done:
	ret;
}

.visible .entry saxpy(
	.param .u32 saxpy_param_0,
	.param .f32 saxpy_param_1,
	.param .u64 saxpy_param_2,
	.param .u64 saxpy_param_3
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<6>;
	.reg .f32 	%f<5>;
	.reg .b64 	%rd<9>;

	ld.param.u32 	%r2, [saxpy_param_0];
	ld.param.f32 	%f1, [saxpy_param_1];
	ld.param.u64 	%rd1, [saxpy_param_2];
	ld.param.u64 	%rd2, [saxpy_param_3];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r3, %r4, %r5;
	setp.ge.u32 	%p1, %r1, %r2;
	@%p1 bra 	$L__saxpy_done;
	cvta.to.global.u64 	%rd3, %rd1;
	cvta.to.global.u64 	%rd4, %rd2;
	cvt.u64.u32 	%rd5, %r1;
	mul.lo.u64 	%rd6, %rd5, 4;
	add.s64 	%rd7, %rd3, %rd6;
	add.s64 	%rd8, %rd4, %rd6;
	ld.global.f32 	%f2, [%rd7];
	ld.global.f32 	%f3, [%rd8];
	fma.rn.f32 	%f4, %f1, %f2, %f3;
	st.global.f32 	[%rd8], %f4;
$L__saxpy_done:
	ret;
}

.visible .entry histogram(
	.param .u64 histogram_param_0,
	.param .u64 histogram_param_1,
	.param .u32 histogram_param_2
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<8>;
	.reg .b64 	%rd<11>;

	ld.param.u64 	%rd1, [histogram_param_0];
	ld.param.u64 	%rd2, [histogram_param_1];
	ld.param.u32 	%r2, [histogram_param_2];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r3, %r4, %r5;
	setp.ge.u32 	%p1, %r1, %r2;
	@%p1 bra 	$L__hist_done;
	cvta.to.global.u64 	%rd3, %rd1;
	cvta.to.global.u64 	%rd4, %rd2;
	cvt.u64.u32 	%rd5, %r1;
	mul.lo.u64 	%rd6, %rd5, 4;
	add.s64 	%rd7, %rd3, %rd6;
	ld.global.u32 	%r6, [%rd7];
	cvt.u64.u32 	%rd8, %r6;
	mul.lo.u64 	%rd9, %rd8, 4;
	add.s64 	%rd10, %rd4, %rd9;
	atom.global.add.u32 	%r7, [%rd10], 1;
$L__hist_done:
	ret;
}

.visible .entry oob_write(
	.param .u64 oob_write_param_0
)
{
	.reg .b32 	%r<2>;
	.reg .b64 	%rd<3>;

	ld.param.u64 	%rd1, [oob_write_param_0];
	cvta.to.global.u64 	%rd2, %rd1;
	mov.u32 	%r1, 1;
	st.global.u32 	[%rd2], %r1;
	ret;
}

.visible .entry reduce_sum(
	.param .u64 reduce_sum_param_0,
	.param .u64 reduce_sum_param_1,
	.param .u32 reduce_sum_param_2
)
{
	.reg .pred 	%p<3>;
	.reg .b32 	%r<6>;
	.reg .f32 	%f<4>;
	.reg .b64 	%rd<14>;

	ld.param.u64 	%rd1, [reduce_sum_param_0];
	ld.param.u64 	%rd2, [reduce_sum_param_1];
	ld.param.u32 	%r2, [reduce_sum_param_2];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r3, %r4, %r5;
	mov.u64 	%rd3, sdata;
	cvt.u64.u32 	%rd4, %r5;
	mul.lo.u64 	%rd5, %rd4, 4;
	add.s64 	%rd6, %rd3, %rd5;
	mov.f32 	%f1, 0f00000000;
	setp.ge.u32 	%p1, %r1, %r2;
	@%p1 bra 	$L__red_store;
	cvta.to.global.u64 	%rd7, %rd1;
	cvt.u64.u32 	%rd8, %r1;
	mul.lo.u64 	%rd9, %rd8, 4;
	add.s64 	%rd10, %rd7, %rd9;
	ld.global.f32 	%f1, [%rd10];
$L__red_store:
	st.shared.f32 	[%rd6], %f1;
	bar.sync 	0;
"#,
    );
    let mut stride = BLOCK / 2;
    while stride > 0 {
        s += &format!(
            "\tsetp.ge.u32 \t%p2, %r5, {stride};\n\t@%p2 bra \t$L__red_s{stride};\n\tld.shared.f32 \t%f2, [%rd6];\n\tld.shared.f32 \t%f3, [%rd6+{off}];\n\tadd.f32 \t%f2, %f2, %f3;\n\tst.shared.f32 \t[%rd6], %f2;\n$L__red_s{stride}:\n\tbar.sync \t0;\n",
            off = stride * 4
        );
        stride /= 2;
    }
    s += r#"	setp.ne.u32 	%p2, %r5, 0;
	@%p2 bra 	$L__red_done;
	ld.shared.f32 	%f2, [%rd3];
	cvta.to.global.u64 	%rd11, %rd2;
	cvt.u64.u32 	%rd12, %r3;
	mul.lo.u64 	%rd13, %rd12, 4;
	add.s64 	%rd11, %rd11, %rd13;
	st.global.f32 	[%rd11], %f2;
$L__red_done:
	ret;
}
"#;
    s.push('\0');
    s
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: plain numbers, fully initialised.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

fn bytes_mut<T: Copy>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: as above; every byte pattern is valid for the types used.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v)) }
}

struct Suite {
    api: Api,
    /// The library is NVIDIA's: skip checks of behaviour it leaves
    /// undefined (see `--native`).
    native: bool,
    module: Ptr,
    digests: Vec<(String, u64)>,
}

type CaseResult = Result<String, String>;

impl Suite {
    fn name(&self, r: CuRes) -> String {
        let mut s: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a static string or NULL.
        unsafe { (self.api.cuGetErrorName)(r, &mut s) };
        if s.is_null() {
            format!("CUresult {r}")
        } else {
            // SAFETY: a NUL-terminated static string.
            unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
        }
    }

    fn ck(&self, what: &str, r: CuRes) -> Result<(), String> {
        if r == SUCCESS {
            Ok(())
        } else {
            Err(format!("{what}: {}", self.name(r)))
        }
    }

    fn expect(&self, what: &str, r: CuRes, want: CuRes) -> Result<(), String> {
        if r == want {
            Ok(())
        } else {
            Err(format!(
                "{what}: got {}, expected {}",
                self.name(r),
                self.name(want)
            ))
        }
    }

    fn digest(&mut self, case: &str, parts: &[&[u8]]) {
        self.digests.push((case.to_string(), fnv1a(parts)));
    }

    fn func(&self, name: &str) -> Result<Ptr, String> {
        let mut f = null_mut();
        let c = std::ffi::CString::new(name).unwrap();
        // SAFETY: valid out pointer, module and name.
        self.ck(&format!("cuModuleGetFunction({name})"), unsafe {
            (self.api.cuModuleGetFunction)(&mut f, self.module, c.as_ptr())
        })?;
        Ok(f)
    }

    fn alloc(&self, n: usize) -> Result<u64, String> {
        let mut p = 0u64;
        // SAFETY: valid out pointer.
        self.ck("cuMemAlloc", unsafe { (self.api.cuMemAlloc_v2)(&mut p, n) })?;
        Ok(p)
    }

    fn free(&self, p: u64) {
        // SAFETY: an allocation of ours.
        unsafe { (self.api.cuMemFree_v2)(p) };
    }

    fn htod<T: Copy>(&self, d: u64, v: &[T]) -> Result<(), String> {
        let b = bytes(v);
        // SAFETY: valid host buffer.
        self.ck("cuMemcpyHtoD", unsafe {
            (self.api.cuMemcpyHtoD_v2)(d, b.as_ptr().cast(), b.len())
        })
    }

    fn dtoh<T: Copy>(&self, v: &mut [T], s: u64) -> Result<(), String> {
        let b = bytes_mut(v);
        // SAFETY: valid host buffer.
        self.ck("cuMemcpyDtoH", unsafe {
            (self.api.cuMemcpyDtoH_v2)(b.as_mut_ptr().cast(), s, b.len())
        })
    }

    /// Launches with `kernelParams` pointing at `args`.
    fn launch(
        &self,
        f: Ptr,
        grid: u32,
        block: u32,
        shared: u32,
        stream: Ptr,
        args: &mut [Ptr],
    ) -> CuRes {
        // SAFETY: `args` holds one pointer per kernel parameter.
        unsafe {
            (self.api.cuLaunchKernel)(
                f,
                grid,
                1,
                1,
                block,
                1,
                1,
                shared,
                stream,
                args.as_mut_ptr(),
                null_mut(),
            )
        }
    }

    fn sync(&self) -> Result<(), String> {
        // SAFETY: no arguments.
        self.ck("cuCtxSynchronize", unsafe { (self.api.cuCtxSynchronize)() })
    }

    fn vecadd_once(&mut self, case: &str, n: usize) -> CaseResult {
        let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..n).map(|i| (n - i) as f32 * 0.25 + 0.1).collect();
        let (da, db, dc) = (self.alloc(n * 4)?, self.alloc(n * 4)?, self.alloc(n * 4)?);
        self.htod(da, &a)?;
        self.htod(db, &b)?;
        let f = self.func("vecadd")?;
        let (mut pa, mut pb, mut pc, mut nn) = (da, db, dc, n as u32);
        let mut args: [Ptr; 4] = [
            (&mut pa as *mut u64).cast(),
            (&mut pb as *mut u64).cast(),
            (&mut pc as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        self.ck(
            "cuLaunchKernel",
            self.launch(
                f,
                (n as u32).div_ceil(BLOCK),
                BLOCK,
                0,
                null_mut(),
                &mut args,
            ),
        )?;
        let mut c = vec![0f32; n];
        self.dtoh(&mut c, dc)?;
        for p in [da, db, dc] {
            self.free(p);
        }
        let bad = (0..n)
            .filter(|&i| c[i].to_bits() != (a[i] + b[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ"));
        }
        self.digest(case, &[bytes(&c)]);
        Ok(format!("{n} elements"))
    }

    fn case_vecadd(&mut self) -> CaseResult {
        self.vecadd_once("vecadd", 10_000)
    }

    /// A module image far larger than one command of the device (as
    /// cuBLAS's and ggml's are): the same PTX padded with 3 MiB of comments.
    fn case_big_module(&mut self) -> CaseResult {
        let mut text = ptx().into_bytes();
        text.pop(); // the NUL
        let pad = b"// padding a large module image, as real libraries have\n";
        while text.len() < 3 << 20 {
            text.extend_from_slice(pad);
        }
        text.push(0);
        let mut m = null_mut();
        // SAFETY: NUL-terminated PTX.
        self.ck("cuModuleLoadData(3 MiB)", unsafe {
            (self.api.cuModuleLoadData)(&mut m, text.as_ptr().cast())
        })?;
        let small = std::mem::replace(&mut self.module, m);
        let r = self.vecadd_once("big_module", 4096);
        self.module = small;
        r.map(|d| format!("3 MiB image loaded; vecadd from it: {d}"))
    }

    fn saxpy_data(n: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..n).map(|i| (i % 97) as f32 * 0.37 - 3.0).collect();
        let y = (0..n).map(|i| (i % 31) as f32 * 1.13 + 0.5).collect();
        (x, y)
    }

    fn case_saxpy(&mut self) -> CaseResult {
        let n = 12_345usize;
        let a = 2.5f32;
        let (x, y) = Self::saxpy_data(n);
        let (dx, dy) = (self.alloc(n * 4)?, self.alloc(n * 4)?);
        self.htod(dx, &x)?;
        self.htod(dy, &y)?;
        let f = self.func("saxpy")?;
        let (mut nn, mut aa, mut px, mut py) = (n as u32, a, dx, dy);
        let mut args: [Ptr; 4] = [
            (&mut nn as *mut u32).cast(),
            (&mut aa as *mut f32).cast(),
            (&mut px as *mut u64).cast(),
            (&mut py as *mut u64).cast(),
        ];
        self.ck(
            "cuLaunchKernel",
            self.launch(
                f,
                (n as u32).div_ceil(BLOCK),
                BLOCK,
                0,
                null_mut(),
                &mut args,
            ),
        )?;
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, dy)?;
        self.free(dx);
        self.free(dy);
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != a.mul_add(x[i], y[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ from fma"));
        }
        self.digest("saxpy", &[bytes(&out)]);
        Ok(format!("{n} elements, fma"))
    }

    fn case_reduction(&mut self) -> CaseResult {
        let blocks = 40usize;
        let n = BLOCK as usize * (blocks - 1) + 17;
        let input: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.001 + 0.25)
            .collect();
        // CPU reference in the kernel's tree order.
        let mut want = vec![0f32; blocks];
        for (b, w) in want.iter_mut().enumerate() {
            let mut s: Vec<f32> = (0..BLOCK as usize)
                .map(|t| input.get(b * BLOCK as usize + t).copied().unwrap_or(0.0))
                .collect();
            let mut stride = BLOCK as usize / 2;
            while stride > 0 {
                for t in 0..stride {
                    s[t] += s[t + stride];
                }
                stride /= 2;
            }
            *w = s[0];
        }
        let (din, dout) = (self.alloc(n * 4)?, self.alloc(blocks * 4)?);
        self.htod(din, &input)?;
        let f = self.func("reduce_sum")?;
        let (mut pi, mut po, mut nn) = (din, dout, n as u32);
        let mut args: [Ptr; 3] = [
            (&mut pi as *mut u64).cast(),
            (&mut po as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        self.ck(
            "cuLaunchKernel",
            self.launch(f, blocks as u32, BLOCK, BLOCK * 4, null_mut(), &mut args),
        )?;
        let mut out = vec![0f32; blocks];
        self.dtoh(&mut out, dout)?;
        self.free(din);
        self.free(dout);
        let bad = (0..blocks)
            .filter(|&i| out[i].to_bits() != want[i].to_bits())
            .count();
        if bad > 0 {
            return Err(format!(
                "{bad} of {blocks} block sums differ (first: {} vs {})",
                out[0], want[0]
            ));
        }
        self.digest("reduction", &[bytes(&out)]);
        Ok(format!("{blocks} blocks, dynamic shared memory"))
    }

    fn case_atomics(&mut self) -> CaseResult {
        let (n, nbins) = (100_000usize, 64usize);
        let data: Vec<u32> = (0..n as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) % nbins as u32)
            .collect();
        let mut want = vec![0u32; nbins];
        for &d in &data {
            want[d as usize] += 1;
        }
        let (dd, dbins) = (self.alloc(n * 4)?, self.alloc(nbins * 4)?);
        self.htod(dd, &data)?;
        // SAFETY: a device allocation of ours.
        self.ck("cuMemsetD32", unsafe {
            (self.api.cuMemsetD32_v2)(dbins, 0, nbins)
        })?;
        let f = self.func("histogram")?;
        let (mut pd, mut pb, mut nn) = (dd, dbins, n as u32);
        let mut args: [Ptr; 3] = [
            (&mut pd as *mut u64).cast(),
            (&mut pb as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        self.ck(
            "cuLaunchKernel",
            self.launch(
                f,
                (n as u32).div_ceil(BLOCK),
                BLOCK,
                0,
                null_mut(),
                &mut args,
            ),
        )?;
        let mut bins = vec![0u32; nbins];
        self.dtoh(&mut bins, dbins)?;
        self.free(dd);
        self.free(dbins);
        if bins != want {
            return Err(format!(
                "histogram differs: {:?}.. vs {:?}..",
                &bins[..4],
                &want[..4]
            ));
        }
        self.digest("atomics", &[bytes(&bins)]);
        Ok(format!("{n} values into {nbins} bins"))
    }

    fn case_streams_events(&mut self) -> CaseResult {
        let n = 50_000usize;
        let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| (i % 10) as f32 * 0.5).collect();
        let (da, db, d1, d2) = (
            self.alloc(n * 4)?,
            self.alloc(n * 4)?,
            self.alloc(n * 4)?,
            self.alloc(n * 4)?,
        );
        let (mut s1, mut s2, mut e0, mut e1) = (null_mut(), null_mut(), null_mut(), null_mut());
        let api = &self.api;
        // SAFETY: valid out pointers; handles created here.
        unsafe {
            self.ck("cuStreamCreate", (api.cuStreamCreate)(&mut s1, 0))?;
            self.ck("cuStreamCreate", (api.cuStreamCreate)(&mut s2, 0))?;
            self.ck("cuEventCreate", (api.cuEventCreate)(&mut e0, 0))?;
            self.ck("cuEventCreate", (api.cuEventCreate)(&mut e1, 0))?;
            self.ck(
                "cuMemcpyHtoDAsync",
                (api.cuMemcpyHtoDAsync_v2)(da, a.as_ptr().cast(), n * 4, s1),
            )?;
            self.ck(
                "cuMemcpyHtoDAsync",
                (api.cuMemcpyHtoDAsync_v2)(db, b.as_ptr().cast(), n * 4, s1),
            )?;
            self.ck("cuEventRecord", (api.cuEventRecord)(e0, s1))?;
        }
        let f = self.func("vecadd")?;
        let grid = (n as u32).div_ceil(BLOCK);
        let nn = n as u32;
        let run = |s: &Suite, x: u64, y: u64, z: u64, st: Ptr| {
            let (mut px, mut py, mut pz, mut nn) = (x, y, z, nn);
            let mut args: [Ptr; 4] = [
                (&mut px as *mut u64).cast(),
                (&mut py as *mut u64).cast(),
                (&mut pz as *mut u64).cast(),
                (&mut nn as *mut u32).cast(),
            ];
            s.ck("cuLaunchKernel", s.launch(f, grid, BLOCK, 0, st, &mut args))
        };
        // d1 = a + b on s1; s2 waits for it, then d2 = d1 + b.
        run(self, da, db, d1, s1)?;
        // SAFETY: handles created above.
        unsafe {
            self.ck("cuEventRecord", (api.cuEventRecord)(e1, s1))?;
            self.ck("cuStreamWaitEvent", (api.cuStreamWaitEvent)(s2, e1, 0))?;
        }
        run(self, d1, db, d2, s2)?;
        let mut ms = -1f32;
        // SAFETY: handles created above.
        unsafe {
            self.ck("cuStreamSynchronize", (api.cuStreamSynchronize)(s2))?;
            self.ck("cuEventSynchronize", (api.cuEventSynchronize)(e1))?;
            self.ck("cuEventQuery", (api.cuEventQuery)(e1))?;
            self.ck("cuStreamQuery", (api.cuStreamQuery)(s1))?;
            self.ck(
                "cuEventElapsedTime",
                (api.cuEventElapsedTime)(&mut ms, e0, e1),
            )?;
        }
        if ms.is_nan() || ms < 0.0 {
            return Err(format!("elapsed time {ms} ms"));
        }
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, d2)?;
        // SAFETY: handles created above.
        unsafe {
            (api.cuEventDestroy_v2)(e0);
            (api.cuEventDestroy_v2)(e1);
            (api.cuStreamDestroy_v2)(s1);
            (api.cuStreamDestroy_v2)(s2);
        }
        for p in [da, db, d1, d2] {
            self.free(p);
        }
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != ((a[i] + b[i]) + b[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ"));
        }
        self.digest("streams_events", &[bytes(&out)]);
        Ok(format!("2 streams, event wait, elapsed {ms:.3} ms"))
    }

    fn case_memset_2d(&mut self) -> CaseResult {
        let api = &self.api;
        let d = self.alloc(4096)?;
        // SAFETY: ranges inside the allocation.
        unsafe {
            self.ck("cuMemsetD8", (api.cuMemsetD8_v2)(d, 0xab, 4096))?;
            self.ck("cuMemsetD16", (api.cuMemsetD16_v2)(d + 1024, 0x1234, 256))?;
            self.ck(
                "cuMemsetD32",
                (api.cuMemsetD32_v2)(d + 2048, 0xdead_beef, 128),
            )?;
            // 8 rows of 16 u32 at a 256-byte pitch from offset 3072? keep inside: 4 rows.
            self.ck(
                "cuMemsetD2D32",
                (api.cuMemsetD2D32_v2)(d + 3072, 256, 0x0102_0304, 16, 4),
            )?;
        }
        let mut m = vec![0u8; 4096];
        self.dtoh(&mut m, d)?;
        let mut want = vec![0xabu8; 4096];
        for i in 0..256 {
            want[1024 + i * 2..1024 + i * 2 + 2].copy_from_slice(&0x1234u16.to_le_bytes());
        }
        for i in 0..128 {
            want[2048 + i * 4..2048 + i * 4 + 4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        }
        for r in 0..4 {
            for c in 0..16 {
                let o = 3072 + r * 256 + c * 4;
                want[o..o + 4].copy_from_slice(&0x0102_0304u32.to_le_bytes());
            }
        }
        if m != want {
            let i = m.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!("memset bytes differ from offset {i}"));
        }
        // 2D: a 37×11 block out of a host matrix (pitch 50, origin 3,2)
        // into device rows of pitch 64, device → device to pitch 40, then
        // back to a host matrix of pitch 45.
        let (w, h) = (37usize, 11usize);
        let host: Vec<u8> = (0..50 * 20).map(|i| (i * 31 % 251) as u8).collect();
        let (d1, d2) = (self.alloc(64 * h)?, self.alloc(40 * h)?);
        let base = Memcpy2d {
            src_x: 0,
            src_y: 0,
            src_type: MT_HOST,
            src_host: std::ptr::null(),
            src_device: 0,
            src_array: null_mut(),
            src_pitch: 0,
            dst_x: 0,
            dst_y: 0,
            dst_type: MT_HOST,
            dst_host: null_mut(),
            dst_device: 0,
            dst_array: null_mut(),
            dst_pitch: 0,
            width: w,
            height: h,
        };
        let mut back = vec![0u8; 45 * h];
        let c1 = Memcpy2d {
            src_x: 3,
            src_y: 2,
            src_type: MT_HOST,
            src_host: host.as_ptr().cast(),
            src_pitch: 50,
            dst_type: MT_DEVICE,
            dst_device: d1,
            dst_pitch: 64,
            ..base
        };
        let c2 = Memcpy2d {
            src_type: MT_DEVICE,
            src_device: d1,
            src_pitch: 64,
            dst_type: MT_DEVICE,
            dst_device: d2,
            dst_pitch: 40,
            ..base
        };
        let c3 = Memcpy2d {
            src_type: MT_DEVICE,
            src_device: d2,
            src_pitch: 40,
            dst_type: MT_HOST,
            dst_host: back.as_mut_ptr().cast(),
            dst_pitch: 45,
            ..base
        };
        // SAFETY: descriptors of valid buffers.
        unsafe {
            self.ck("cuMemcpy2D HtoD", (api.cuMemcpy2D_v2)(&c1))?;
            self.ck("cuMemcpy2D DtoD", (api.cuMemcpy2D_v2)(&c2))?;
            self.ck("cuMemcpy2D DtoH", (api.cuMemcpy2D_v2)(&c3))?;
        }
        for r in 0..h {
            let src = &host[(r + 2) * 50 + 3..(r + 2) * 50 + 3 + w];
            if &back[r * 45..r * 45 + w] != src {
                return Err(format!("2D copy row {r} differs"));
            }
        }
        self.free(d);
        self.free(d1);
        self.free(d2);
        let rows: Vec<u8> = (0..h)
            .flat_map(|r| back[r * 45..r * 45 + w].to_vec())
            .collect();
        self.digest("memset_2d", &[&m, &rows]);
        Ok("D8/D16/D32/D2D32 and 2D HtoD/DtoD/DtoH with pitches".into())
    }

    fn case_global(&mut self) -> CaseResult {
        let (mut d, mut size) = (0u64, 0usize);
        // SAFETY: valid out pointers, module and name.
        self.ck("cuModuleGetGlobal", unsafe {
            (self.api.cuModuleGetGlobal_v2)(&mut d, &mut size, self.module, c"g_vals".as_ptr())
        })?;
        if size != 16 {
            return Err(format!("size {size}, expected 16"));
        }
        let mut init = [0u32; 4];
        self.dtoh(&mut init, d)?;
        if init != [1, 2, 3, 4] {
            return Err(format!("initial value {init:?}"));
        }
        self.htod(d, &[10u32, 20, 30, 40])?;
        let mut v = [0u32; 4];
        self.dtoh(&mut v, d)?;
        if v != [10, 20, 30, 40] {
            return Err(format!("after write {v:?}"));
        }
        self.digest("global", &[bytes(&init), bytes(&v)]);
        Ok("read initial values, wrote and read back".into())
    }

    fn case_extra_params(&mut self) -> CaseResult {
        let n = 1000usize;
        let (x, y) = Self::saxpy_data(n);
        let (dx, dy) = (self.alloc(n * 4)?, self.alloc(n * 4)?);
        self.htod(dx, &x)?;
        self.htod(dy, &y)?;
        let f = self.func("saxpy")?;
        // Packed: u32 n @0, f32 a @4, x @8, y @16 (24 bytes; 8 spare bytes
        // so that a driver that ignores the size reads nothing wild).
        let mut buf = [0u8; 32];
        buf[0..4].copy_from_slice(&(n as u32).to_le_bytes());
        buf[4..8].copy_from_slice(&3.0f32.to_le_bytes());
        buf[8..16].copy_from_slice(&dx.to_le_bytes());
        buf[16..24].copy_from_slice(&dy.to_le_bytes());
        let mut go = |size: usize| -> CuRes {
            let mut size = size;
            let mut extra: [Ptr; 5] = [
                1 as Ptr,
                buf.as_mut_ptr().cast(),
                2 as Ptr,
                (&mut size as *mut usize).cast(),
                null_mut(),
            ];
            // SAFETY: a well-formed `extra` array.
            unsafe {
                (self.api.cuLaunchKernel)(
                    f,
                    (n as u32).div_ceil(BLOCK),
                    1,
                    1,
                    BLOCK,
                    1,
                    1,
                    0,
                    null_mut(),
                    null_mut(),
                    extra.as_mut_ptr(),
                )
            }
        };
        // A larger buffer fails with LAUNCH_OUT_OF_RESOURCES on NVIDIA's
        // driver and ours; a smaller one NVIDIA's launches (reading past
        // it), so that one is checked on ours only (INVALID_VALUE).
        let larger = go(32);
        self.expect(
            "launch with a 32-byte buffer",
            larger,
            LAUNCH_OUT_OF_RESOURCES,
        )?;
        if !self.native {
            let smaller = go(16);
            self.expect("launch with a 16-byte buffer", smaller, INVALID_VALUE)?;
        }
        let right = go(24);
        self.ck("launch with the 24-byte buffer", right)?;
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, dy)?;
        self.free(dx);
        self.free(dy);
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != 3.0f32.mul_add(x[i], y[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} elements differ"));
        }
        self.digest("extra_params", &[bytes(&out)]);
        Ok(if self.native {
            "larger buffer refused, right size ran (smaller one not checked: --native)".into()
        } else {
            "larger and smaller buffers refused, right size ran".into()
        })
    }

    fn case_bad_input(&mut self) -> CaseResult {
        let api = &self.api;
        // SAFETY: deliberately bad values, of the right types.
        let free = unsafe { (api.cuMemFree_v2)(0x7000_dead_0000) };
        self.expect("cuMemFree(unknown)", free, INVALID_VALUE)?;
        let mut args: [Ptr; 0] = [];
        let launch = self.launch(null_mut(), 1, 1, 0, null_mut(), &mut args);
        self.expect("cuLaunchKernel(NULL function)", launch, INVALID_HANDLE)?;
        let d = self.alloc(1024)?;
        let big = vec![0u8; 2048];
        // SAFETY: a valid host buffer; the device range is too short.
        let past = unsafe { (api.cuMemcpyHtoD_v2)(d, big.as_ptr().cast(), big.len()) };
        self.expect("cuMemcpyHtoD past the end", past, INVALID_VALUE)?;
        self.free(d);
        let mut checks = 3;
        // A destroyed stream's handle crashes NVIDIA's driver (SIGSEGV).
        if !self.native {
            checks += 1;
            let mut s = null_mut();
            // SAFETY: valid out pointer; then a stale handle.
            let q = unsafe {
                self.ck("cuStreamCreate", (api.cuStreamCreate)(&mut s, 0))?;
                self.ck("cuStreamDestroy", (api.cuStreamDestroy_v2)(s))?;
                (api.cuStreamQuery)(s)
            };
            self.expect("cuStreamQuery(destroyed)", q, INVALID_HANDLE)?;
        }
        self.vecadd_once("bad_input", 1000)
            .map(|_| format!("{checks} errors as expected; vecadd after them passes"))
            .map_err(|e| format!("vecadd after the errors: {e}"))
    }

    fn case_roundtrip(&mut self, mib: usize) -> CaseResult {
        let n = mib << 20;
        let mut data = vec![0u8; n];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for c in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let d = self.alloc(n.max(1))?;
        let t = Instant::now();
        self.htod(d, &data)?;
        let up = t.elapsed();
        let mut back = vec![0u8; n];
        let t = Instant::now();
        self.dtoh(&mut back, d)?;
        let down = t.elapsed();
        self.free(d);
        if back != data {
            let i = back
                .iter()
                .zip(&data)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!("{mib} MiB: first difference at byte {i}"));
        }
        self.digest("roundtrip", &[&back]);
        let rate = |d: std::time::Duration| mib as f64 / d.as_secs_f64().max(1e-9);
        Ok(format!(
            "{mib} MiB identical; up {:.0} MiB/s, down {:.0} MiB/s",
            rate(up),
            rate(down)
        ))
    }

    fn case_async_error(&mut self) -> CaseResult {
        let d = self.alloc(256)?;
        let f = self.func("oob_write")?;
        let mut p = d.wrapping_add(1 << 40);
        let mut args: [Ptr; 1] = [(&mut p as *mut u64).cast()];
        let l = self.launch(f, 1, 1, 0, null_mut(), &mut args);
        self.expect("cuLaunchKernel (bad address)", l, SUCCESS)?;
        // SAFETY: no arguments.
        let s = unsafe { (self.api.cuCtxSynchronize)() };
        self.expect("cuCtxSynchronize after the bad write", s, ILLEGAL_ADDRESS)?;
        Ok("launch SUCCESS, synchronize CUDA_ERROR_ILLEGAL_ADDRESS".into())
    }
}

const CASES: &[&str] = &[
    "vecadd",
    "big_module",
    "saxpy",
    "reduction",
    "atomics",
    "streams_events",
    "memset_2d",
    "global",
    "extra_params",
    "bad_input",
    "roundtrip",
    "async_error",
];

fn main() -> ExitCode {
    let mut only: Option<Vec<String>> = None;
    let mut native = false;
    let mut mib = 64usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => {
                only = args
                    .next()
                    .map(|v| v.split(',').map(str::to_string).collect())
            }
            "--native" => native = true,
            "--roundtrip-mib" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => mib = n,
                None => {
                    eprintln!("--roundtrip-mib needs a number");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: cuda-suite [--native] [--only CASE,...] [--roundtrip-mib N]\ncases: {}",
                    CASES.join(",")
                );
                return ExitCode::from(2);
            }
        }
    }
    if let Some(o) = &only {
        if let Some(bad) = o.iter().find(|c| !CASES.contains(&c.as_str())) {
            eprintln!("unknown case {bad}; cases: {}", CASES.join(","));
            return ExitCode::from(2);
        }
    }
    let api = match Api::load() {
        Ok(a) => a,
        Err(e) => {
            println!("CASE setup FAIL {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let mut suite = Suite {
        api,
        native,
        module: null_mut(),
        digests: Vec::new(),
    };
    let init = (|| -> Result<String, String> {
        let a = &suite.api;
        let (mut ver, mut dev, mut ctx) = (0, 0, null_mut());
        let mut name = [0 as c_char; 128];
        // SAFETY: valid out pointers.
        unsafe {
            suite.ck("cuInit", (a.cuInit)(0))?;
            suite.ck("cuDriverGetVersion", (a.cuDriverGetVersion)(&mut ver))?;
            suite.ck("cuDeviceGet", (a.cuDeviceGet)(&mut dev, 0))?;
            suite.ck(
                "cuDeviceGetName",
                (a.cuDeviceGetName)(name.as_mut_ptr(), 128, dev),
            )?;
            suite.ck(
                "cuDevicePrimaryCtxRetain",
                (a.cuDevicePrimaryCtxRetain)(&mut ctx, dev),
            )?;
            suite.ck("cuCtxSetCurrent", (a.cuCtxSetCurrent)(ctx))?;
        }
        let ptx = ptx();
        let mut m = null_mut();
        // SAFETY: NUL-terminated PTX.
        suite.ck("cuModuleLoadData", unsafe {
            (a.cuModuleLoadData)(&mut m, ptx.as_ptr().cast())
        })?;
        suite.module = m;
        // SAFETY: a NUL-terminated buffer the driver filled.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(format!("{name}, driver {ver}"))
    })();
    match init {
        Ok(d) => println!("CASE setup PASS {d}"),
        Err(e) => {
            println!("CASE setup FAIL {e}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    }
    let (mut passed, mut failed) = (0, 0);
    for &case in CASES {
        if only.as_ref().is_some_and(|o| !o.iter().any(|c| c == case)) {
            continue;
        }
        let r = match case {
            "vecadd" => suite.case_vecadd(),
            "big_module" => suite.case_big_module(),
            "saxpy" => suite.case_saxpy(),
            "reduction" => suite.case_reduction(),
            "atomics" => suite.case_atomics(),
            "streams_events" => suite.case_streams_events(),
            "memset_2d" => suite.case_memset_2d(),
            "global" => suite.case_global(),
            "extra_params" => suite.case_extra_params(),
            "bad_input" => suite.case_bad_input(),
            "roundtrip" => suite.case_roundtrip(mib),
            "async_error" => suite.case_async_error(),
            _ => unreachable!(),
        };
        match r {
            Ok(d) => {
                passed += 1;
                println!("CASE {case} PASS {d}");
            }
            Err(e) => {
                failed += 1;
                println!("CASE {case} FAIL {e}");
                // A failed case may leave asynchronous errors behind.
                if case != "async_error" {
                    let _ = suite.sync();
                }
            }
        }
        for (c, h) in suite.digests.drain(..) {
            println!("DIGEST {c} {h:016x}");
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
