//! The library/kernel API (`cuLibrary*`, `cuKernel*`) that cudart 12/13
//! loads all device code through. A library keeps its image and is loaded
//! as a module into each context on first use there; a `CUkernel` resolves
//! to that context's `CUfunction`, and is accepted wherever a `CUfunction`
//! is (as NVIDIA's driver accepts it).

use crate::driver::abi::{In, Out};
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CString};

use uapi::cuda::result;

use super::{function, image, module, with_state, CuResult, Obj, State};
use crate::driver::abi::{
    CUfunction, CUkernel, CUlibrary, CUmodule, CU_LIBRARY_BINARY_IS_PRESERVED,
    CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE,
};

/// The guest module of library `lib` in wire context `wire`, loading it there first if needed.
pub(crate) fn module_in(s: &mut State, lib: u64, wire: u64) -> CuResult<u64> {
    let image = match s.objects.get(&lib) {
        Some(Obj::Library { modules, image }) => match modules.get(&wire) {
            Some(&m) if s.objects.contains_key(&m) => return Ok(m),
            _ => image.clone(),
        },
        _ => return Err(result::INVALID_HANDLE),
    };
    let m = module::load(s, wire, &image)?;
    if let Some(Obj::Library { modules, .. }) = s.objects.get_mut(&lib) {
        modules.insert(wire, m);
    }
    Ok(m)
}

/// The guest function of kernel `k` in wire context `wire`.
fn kernel_function(s: &mut State, k: u64, wire: u64) -> CuResult<u64> {
    let (lib, name) = match s.objects.get(&k) {
        Some(Obj::Kernel {
            library,
            name,
            functions,
        }) => match functions.get(&wire) {
            Some(&f) if s.objects.contains_key(&f) => return Ok(f),
            _ => (*library, name.as_bytes().to_vec()),
        },
        _ => return Err(result::INVALID_HANDLE),
    };
    let m = module_in(s, lib, wire)?;
    let f = module::get_function(s, m, &name)?;
    if let Some(Obj::Kernel { functions, .. }) = s.objects.get_mut(&k) {
        functions.insert(wire, f);
    }
    Ok(f)
}

/// A `CUfunction` or `CUkernel` handle as the guest function to use: a
/// kernel resolves in the calling thread's current context.
pub(crate) fn resolve_function(s: &mut State, handle: u64) -> CuResult<u64> {
    match s.objects.get(&handle) {
        Some(Obj::Function { .. }) => Ok(handle),
        Some(Obj::Kernel { .. }) => {
            let (_, wire) = s.current()?;
            kernel_function(s, handle, wire)
        }
        _ => Err(result::INVALID_HANDLE),
    }
}

/// Checks the JIT and library options of a load: we honour none of the JIT
/// options (the device's driver compiles with its defaults), and of the
/// library options only the two that change nothing for us.
unsafe fn check_options(
    num_jit: c_uint,
    lib_options: *const c_int,
    num_lib: c_uint,
) -> CuResult<()> {
    if num_jit > 0 {
        tracing::debug!(num_jit, "cuLibraryLoad*: JIT options ignored");
    }
    if num_lib > 0 {
        if lib_options.is_null() {
            return Err(result::INVALID_VALUE);
        }
        for i in 0..num_lib as usize {
            // SAFETY: the caller's contract: `lib_options` holds `num_lib`
            // options; checked non-NULL above.
            match unsafe { *lib_options.add(i) } {
                CU_LIBRARY_BINARY_IS_PRESERVED
                | CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE => {}
                _ => return Err(result::INVALID_VALUE),
            }
        }
    }
    Ok(())
}

/// Registers a library made from `image` and loads it into the current
/// context, if there is one, so that a bad image fails here as it does
/// with NVIDIA's driver.
fn new_library(s: &mut State, image: Vec<u8>) -> CuResult<u64> {
    let h = s.new_handle();
    s.objects.insert(
        h,
        Obj::Library {
            image,
            modules: BTreeMap::new(),
        },
    );
    if let Ok((_, wire)) = s.current() {
        if let Err(e) = module_in(s, h, wire) {
            s.objects.remove(&h);
            return Err(e);
        }
    }
    Ok(h)
}

/// What both loaders share: the checks, then a library from the image
/// `read` returns.
///
/// # Safety
/// `library` is null or valid for a write; `lib_options` as
/// `cuLibraryLoadData` defines it.
unsafe fn load_library(
    library: Out<'_, CUlibrary>,
    source_is_null: bool,
    (num_jit, lib_options, num_lib): (c_uint, *mut c_int, c_uint),
    read: impl FnOnce() -> CuResult<Vec<u8>>,
) -> CuResult {
    with_state(|s| {
        if library.is_null() || source_is_null {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the caller's contract.
        unsafe { check_options(num_jit, lib_options, num_lib)? };
        let h = new_library(s, read()?)?;
        // SAFETY: non-null, and the caller's out-pointer.
        library.write(h as CUlibrary)?;
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn library_load_data(
    library: Out<'_, CUlibrary>,
    code: *const c_void,
    _jit_options: *mut c_int,
    _jit_values: *mut *mut c_void,
    num_jit: c_uint,
    lib_options: *mut c_int,
    _lib_values: *mut *mut c_void,
    num_lib: c_uint,
) -> CuResult {
    let options = (num_jit, lib_options, num_lib);
    // SAFETY: `code` is an image in memory (cuLibraryLoadData's contract).
    let read = || Ok(unsafe { image::image_bytes(code) }?.to_vec());
    // SAFETY: the C caller's `libraryOptions`, `numLibraryOptions` long.
    unsafe { load_library(library, code.is_null(), options, read) }
}

#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn library_load_from_file(
    library: Out<'_, CUlibrary>,
    file: In<'_, c_char>,
    _jit_options: *mut c_int,
    _jit_values: *mut *mut c_void,
    num_jit: c_uint,
    lib_options: *mut c_int,
    _lib_values: *mut *mut c_void,
    num_lib: c_uint,
) -> CuResult {
    let options = (num_jit, lib_options, num_lib);
    let read = || {
        let name = file.c_str()?.to_bytes();
        // SAFETY: the bytes are a path as the C caller spelt it.
        let path = unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(name) };
        module::read_image_file(path)
    };
    // SAFETY: the C caller's `libraryOptions`, `numLibraryOptions` long.
    unsafe { load_library(library, file.is_null(), options, read) }
}

pub(crate) fn library_unload(library: CUlibrary) -> CuResult {
    with_state(|s| {
        let key = library as u64;
        let modules = match s.objects.remove(&key) {
            Some(Obj::Library { modules, .. }) => modules,
            Some(other) => {
                s.objects.insert(key, other);
                return Err(result::INVALID_HANDLE);
            }
            None => return Err(result::INVALID_HANDLE),
        };
        s.objects
            .retain(|_, o| !matches!(o, Obj::Kernel { library, .. } if *library == key));
        let mut first_err = Ok(());
        for m in modules.into_values() {
            if let Err(e) = module::unload(s, m) {
                first_err = first_err.and(Err(e));
            }
        }
        first_err
    })
}

pub(crate) fn library_get_kernel(
    kernel: Out<'_, CUkernel>,
    library: CUlibrary,
    name: In<'_, c_char>,
) -> CuResult {
    with_state(|s| {
        let kernel = kernel.get()?;
        let name = name.c_str()?;
        let lib = library as u64;
        if !matches!(s.objects.get(&lib), Some(Obj::Library { .. })) {
            return Err(result::INVALID_HANDLE);
        }
        // One CUkernel per (library, name), as NVIDIA's driver returns.
        let existing = s.objects.iter().find_map(|(h, o)| match o {
            Obj::Kernel {
                library, name: n, ..
            } if *library == lib && n.as_c_str() == name => Some(*h),
            _ => None,
        });
        let h = match existing {
            Some(h) => h,
            None => {
                let h = s.new_handle();
                s.objects.insert(
                    h,
                    Obj::Kernel {
                        library: lib,
                        name: CString::from(name),
                        functions: BTreeMap::new(),
                    },
                );
                // Resolve now where a context is current, so that an
                // unknown name fails here (NOT_FOUND), as it does natively.
                if let Ok((_, wire)) = s.current() {
                    if let Err(e) = kernel_function(s, h, wire) {
                        s.objects.remove(&h);
                        return Err(e);
                    }
                }
                h
            }
        };
        kernel.write(h as CUkernel);
        Ok(())
    })
}

pub(crate) fn library_get_module(module: Out<'_, CUmodule>, library: CUlibrary) -> CuResult {
    with_state(|s| {
        let module = module.get()?;
        let (_, wire) = s.current()?;
        module.write(module_in(s, library as u64, wire)? as CUmodule);
        Ok(())
    })
}

pub(crate) fn library_get_global(
    dptr: Out<'_, u64>,
    bytes: Out<'_, usize>,
    library: CUlibrary,
    name: In<'_, c_char>,
) -> CuResult {
    with_state(|s| {
        let name = name.c_str()?;
        let (_, wire) = s.current()?;
        let m = module_in(s, library as u64, wire)?;
        let (addr, size) = module::get_global(s, m, name.to_bytes())?;
        dptr.write_optional(addr);
        bytes.write_optional(size as usize);
        Ok(())
    })
}

pub(crate) fn kernel_get_function(f: Out<'_, CUfunction>, kernel: CUkernel) -> CuResult {
    with_state(|s| {
        let f = f.get()?;
        if !matches!(s.objects.get(&(kernel as u64)), Some(Obj::Kernel { .. })) {
            return Err(result::INVALID_HANDLE);
        }
        f.write(resolve_function(s, kernel as u64)? as CUfunction);
        Ok(())
    })
}

/// The library of a `CUkernel` and its NUL-terminated name.
fn kernel_of(s: &State, kernel: CUkernel) -> CuResult<(u64, *const c_char)> {
    match s.objects.get(&(kernel as u64)) {
        Some(Obj::Kernel { library, name, .. }) => Ok((*library, name.as_ptr())),
        _ => Err(result::INVALID_HANDLE),
    }
}

pub(crate) fn kernel_get_library(library: Out<'_, CUlibrary>, kernel: CUkernel) -> CuResult {
    with_state(|s| {
        let library = library.get()?;
        library.write(kernel_of(s, kernel)?.0 as CUlibrary);
        Ok(())
    })
}

pub(crate) unsafe fn kernel_get_name(name: *mut *const c_char, kernel: CUkernel) -> CuResult {
    with_state(|s| {
        if name.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let kernel_name = kernel_of(s, kernel)?.1;
        // SAFETY: the C caller's out-pointer; checked non-NULL above. The
        // CString lives as long as the kernel, as CUDA promises.
        unsafe { *name = kernel_name };
        Ok(())
    })
}

fn check_device(dev: c_int) -> CuResult {
    if dev == 0 {
        Ok(())
    } else {
        Err(result::INVALID_DEVICE)
    }
}

pub(crate) fn kernel_get_attribute(
    value: Out<'_, c_int>,
    attribute: c_int,
    kernel: CUkernel,
    dev: c_int,
) -> CuResult {
    check_device(dev)?;
    function::func_get_attribute(value, attribute, kernel)
}

pub(crate) fn kernel_set_attribute(
    attribute: c_int,
    value: c_int,
    kernel: CUkernel,
    dev: c_int,
) -> CuResult {
    check_device(dev)?;
    function::func_set_attribute(kernel, attribute, value)
}

pub(crate) fn kernel_set_cache_config(kernel: CUkernel, config: c_int, dev: c_int) -> CuResult {
    check_device(dev)?;
    function::func_set_cache_config(kernel, config)
}

pub(crate) fn kernel_get_param_info(
    kernel: CUkernel,
    index: usize,
    offset: Out<'_, usize>,
    size: Out<'_, usize>,
) -> CuResult {
    module::func_get_param_info(kernel, index, offset, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{launch::launch_1d, lock, testing::session, with_stack};
    use uapi::cuda::{
        op, FuncAttributesResponse, FunctionResponse, HandleResponse, LaunchRequest, ParamInfo,
        SymbolRequest, FUNC_ATTRIBUTE_COUNT,
    };
    use uapi::wire::Wire;

    const PTX: &[u8] = b".version 9.0\n.target sm_90\n.entry k()\n{\nret;\n}\n\0";

    fn current_primary() {
        let mut s = lock();
        s.attrs = Some(crate::driver::testing::device_attributes());
        let c = s.new_handle();
        s.objects.insert(c, Obj::Ctx { wire: 0, flags: 0 });
        drop(s);
        with_stack(|st| st.push(c));
    }

    fn function_response(function: u64) -> Vec<u8> {
        let mut r = FunctionResponse {
            result: 0,
            param_count: 1,
            function,
        }
        .as_bytes()
        .to_vec();
        r.extend_from_slice(ParamInfo { offset: 0, size: 8 }.as_bytes());
        r
    }

    #[test]
    fn kernels_of_a_library_resolve_per_context_and_launch() {
        let sess = session(1 << 20);
        current_primary();
        {
            let mut sc = sess.script.lock().unwrap();
            sc.responses.push_back(
                HandleResponse {
                    result: 0,
                    reserved: 0,
                    handle: 7,
                }
                .as_bytes()
                .to_vec(),
            );
            sc.responses.push_back(function_response(99));
            let mut attrs = FuncAttributesResponse {
                result: 0,
                count: FUNC_ATTRIBUTE_COUNT as u32,
                values: [0; FUNC_ATTRIBUTE_COUNT],
            };
            attrs.values[0] = 768;
            sc.responses.push_back(attrs.as_bytes().to_vec());
        }
        let null = std::ptr::null_mut();
        let mut lib: CUlibrary = null;
        let mut k: CUkernel = null;
        let mut k2: CUkernel = null;
        let mut f: CUfunction = null;
        {
            // SAFETY: a static PTX image, no options.
            unsafe {
                library_load_data(
                    (&mut lib).into(),
                    PTX.as_ptr().cast(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    0,
                )
            }
            .unwrap();
            library_get_kernel((&mut k).into(), lib, c"k".into()).unwrap();
            library_get_kernel((&mut k2).into(), lib, c"k".into()).unwrap();
            kernel_get_function((&mut f).into(), k).unwrap();
        }
        assert_eq!(k, k2, "one CUkernel per name");
        assert_ne!(k, f, "a CUkernel is not its context's CUfunction");
        let sent = sess.opcodes();
        assert_eq!(sent, [op::MODULE_LOAD, op::MODULE_GET_FUNCTION]);
        let body = sess.script.lock().unwrap().sent[1].2.clone();
        let req = SymbolRequest::read_from(&body).unwrap();
        assert_eq!((req.module, &body[24..]), (7, &b"k"[..]));

        // The kernel launches as its function and answers attributes for it.
        let mut p = 0u64;
        let mut params = [(&mut p as *mut u64).cast::<c_void>()];
        let mut v = 0;
        {
            launch_1d(k, 1, 32, params.as_mut_ptr()).unwrap();
            function::func_get_attribute((&mut v).into(), 0, k).unwrap();
            function::func_get_attribute((&mut v).into(), 0, f).unwrap();
        }
        assert_eq!(v, 768);
        let sc = sess.script.lock().unwrap();
        let ops: Vec<u16> = sc.sent.iter().map(|c| c.0).collect();
        assert_eq!(
            ops,
            [
                op::MODULE_LOAD,
                op::MODULE_GET_FUNCTION,
                op::FUNC_GET_ATTRIBUTES
            ],
            "attributes are fetched once (the launch checked its shape with them)"
        );
        drop(sc);
        lock().client().unwrap().flush().unwrap();
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.sent[3].0, op::LAUNCH);
        assert_eq!(
            LaunchRequest::read_from(&sc.sent[3].2).unwrap().function,
            99
        );
        drop(sc);

        {
            library_unload(lib).unwrap();
            assert_eq!(
                kernel_get_function((&mut f).into(), k),
                Err(result::INVALID_HANDLE)
            );
            assert_eq!(library_unload(lib), Err(result::INVALID_HANDLE));
        }
        let last = sess.script.lock().unwrap().sent.last().map(|c| c.0);
        assert_eq!(last, Some(op::MODULE_UNLOAD));
    }

    #[test]
    fn library_options_and_names_are_checked() {
        let _sess = session(1 << 20);
        current_primary();
        let null = std::ptr::null_mut();
        let mut lib: CUlibrary = null;
        let mut bad_option = [7 as c_int];
        {
            assert_eq!(
                // SAFETY: a static PTX image and a local options array.
                unsafe {
                    library_load_data(
                        (&mut lib).into(),
                        PTX.as_ptr().cast(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        0,
                        bad_option.as_mut_ptr(),
                        std::ptr::null_mut(),
                        1,
                    )
                },
                Err(result::INVALID_VALUE)
            );
            assert_eq!(
                // SAFETY: a static PTX image, no options.
                unsafe {
                    library_load_data(
                        Out::null(),
                        PTX.as_ptr().cast(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        0,
                        null.cast(),
                        std::ptr::null_mut(),
                        0,
                    )
                },
                Err(result::INVALID_VALUE)
            );
            let mut k: CUkernel = null;
            assert_eq!(
                library_get_kernel((&mut k).into(), 0x999 as CUlibrary, c"k".into()),
                Err(result::INVALID_HANDLE)
            );
        }
    }
}
