//! Modules: images are sized locally and shipped as bytes; the device
//! answers function lookups with the parameter layout, cached here.

use crate::driver::abi::{In, Out};
use std::ffi::{c_char, c_int, c_uint, c_void};

use uapi::{
    cuda::{
        cmds, result, ModuleLoadRequest, ModuleRequest, ParamInfo, StageRequest, SymbolRequest,
        MAX_NAME, MAX_PARAMS,
    },
    wire::Wire,
};

use super::{image, with_ctx, with_state, CuResult, Obj, State};
use crate::driver::abi::{CUfunction, CUmodule, CU_MODULE_EAGER_LOADING, CU_MODULE_LAZY_LOADING};

/// Loads `img` into wire context `ctx`; returns the new module's guest handle.
pub(crate) fn load(s: &mut State, ctx: u64, img: &[u8]) -> CuResult<u64> {
    let c = s.client()?;
    let header = core::mem::size_of::<ModuleLoadRequest>();
    let (req, tail) = if header + img.len() > c.max_payload() {
        // Too large for one command (cuBLAS and ggml images are): ship it
        // in pieces, in order, then load what was staged.
        let piece = c.max_payload() - core::mem::size_of::<StageRequest>();
        for (i, chunk) in img.chunks(piece).enumerate() {
            let stage = StageRequest {
                ctx,
                offset: (i * piece) as u64,
            };
            c.push_cmd::<cmds::ModuleStage>(&stage, chunk)?;
        }
        (ModuleLoadRequest { ctx, image_len: 0 }, &[][..])
    } else {
        let req = ModuleLoadRequest {
            ctx,
            image_len: img.len() as u64,
        };
        (req, img)
    };
    let host = c.call_cmd::<cmds::ModuleLoad>(&req, tail, 0)?.0.handle;
    let h = s.new_handle();
    s.objects.insert(h, Obj::Module { host, ctx });
    Ok(h)
}

unsafe fn load_ptr(module: Out<'_, CUmodule>, image: *const c_void) -> CuResult {
    with_ctx(|s, ctx| {
        let module = module.get()?;
        // SAFETY: the caller's contract: `image` is an image in memory,
        // readable to its end.
        let img = unsafe { image::image_bytes(image) }?;
        module.write(load(s, ctx, img)? as CUmodule);
        Ok(())
    })
}

pub(crate) unsafe fn module_load_data(module: Out<'_, CUmodule>, image: *const c_void) -> CuResult {
    // SAFETY: the C caller's image, as `cuModuleLoadData` defines it.
    unsafe { load_ptr(module, image) }
}

pub(crate) unsafe fn module_load_data_ex(
    module: Out<'_, CUmodule>,
    image: *const c_void,
    _num_options: c_uint,
    _options: *mut c_int,
    _values: *mut *mut c_void,
) -> CuResult {
    // SAFETY: the C caller's image, as `cuModuleLoadDataEx` defines it.
    unsafe { load_ptr(module, image) }
}

pub(crate) unsafe fn module_load_fat_binary(
    module: Out<'_, CUmodule>,
    fat: *const c_void,
) -> CuResult {
    // SAFETY: the C caller's fatbin, as `cuModuleLoadFatBinary` defines it.
    unsafe { load_ptr(module, fat) }
}

/// Reads an image file as `cuModuleLoad` and `cuLibraryLoadFromFile` do:
/// PTX text gets its NUL terminator for the wire.
pub(crate) fn read_image_file(path: &std::ffi::OsStr) -> CuResult<Vec<u8>> {
    let mut data = std::fs::read(path).map_err(|_| result::FILE_NOT_FOUND)?;
    let is_binary =
        data.starts_with(&image::ELF_MAGIC) || data.starts_with(&image::FATBIN_MAGIC.to_le_bytes());
    if !is_binary && data.last() != Some(&0) {
        data.push(0);
    }
    Ok(data)
}

pub(crate) fn module_load(module: Out<'_, CUmodule>, fname: In<'_, c_char>) -> CuResult {
    with_ctx(|s, ctx| {
        let module = module.get()?;
        let fname = fname.c_str()?;
        // SAFETY: on Unix any byte string is a valid `OsStr` encoding;
        // these are the path's bytes as the C caller spelt them.
        let path = unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(fname.to_bytes()) };
        let data = read_image_file(path)?;
        module.write(load(s, ctx, &data)? as CUmodule);
        Ok(())
    })
}

/// Lazy unless `CUDA_MODULE_LOADING=EAGER`, as NVIDIA's driver (lazy is its
/// default since CUDA 12.2). It only steers when cudart loads its modules;
/// each load is shipped to the device when it is made either way.
pub(crate) fn module_get_loading_mode(mode: Out<'_, c_int>) -> CuResult {
    let mode = mode.get()?;
    let eager = std::env::var_os("CUDA_MODULE_LOADING").is_some_and(|v| v == "EAGER");
    mode.write(if eager {
        CU_MODULE_EAGER_LOADING
    } else {
        CU_MODULE_LAZY_LOADING
    });
    Ok(())
}

fn module_host(s: &State, m: u64) -> CuResult<(u64, u64)> {
    match s.objects.get(&m) {
        Some(Obj::Module { host, ctx }) => Ok((*host, *ctx)),
        _ => Err(result::INVALID_HANDLE),
    }
}

/// Unloads guest module `key` and forgets its functions.
pub(crate) fn unload(s: &mut State, key: u64) -> CuResult {
    let (host, ctx) = module_host(s, key)?;
    let req = ModuleRequest { ctx, module: host };
    let r = s.client()?.call_cmd::<cmds::ModuleUnload>(&req, &[], 0);
    s.objects.remove(&key);
    s.objects
        .retain(|_, o| !matches!(o, Obj::Function { module, .. } if *module == key));
    super::memory::forget_module(s, key);
    r.map(drop)
}

pub(crate) fn module_unload(m: CUmodule) -> CuResult {
    with_state(|s| unload(s, m as u64))
}

/// The request naming symbol `name` of `module` (the name follows it).
fn symbol_request(ctx: u64, module: u64, name: &[u8]) -> CuResult<SymbolRequest> {
    if name.is_empty() || name.len() > MAX_NAME as usize {
        return Err(result::INVALID_VALUE);
    }
    Ok(SymbolRequest {
        ctx,
        module,
        name_len: name.len() as u32,
        reserved: 0,
    })
}

/// Looks up kernel `name` in guest module `m`; returns a new guest
/// function handle (with the parameter layout the device reported).
pub(crate) fn get_function(s: &mut State, m: u64, name: &[u8]) -> CuResult<u64> {
    let (host, ctx) = module_host(s, m)?;
    let req = symbol_request(ctx, host, name)?;
    let (fr, tail) = s.client()?.call_cmd::<cmds::ModuleGetFunction>(
        &req,
        name,
        MAX_PARAMS * core::mem::size_of::<ParamInfo>(),
    )?;
    let layout: Vec<ParamInfo> = tail
        .chunks_exact(8)
        .take(fr.param_count as usize)
        .filter_map(ParamInfo::read_from)
        .collect();
    if layout.len() != fr.param_count as usize {
        return Err(result::UNKNOWN);
    }
    let h = s.new_handle();
    s.objects.insert(
        h,
        Obj::Function {
            host: fr.function,
            ctx,
            module: m,
            name: name.to_vec(),
            layout,
            attrs: None,
        },
    );
    Ok(h)
}

pub(crate) fn module_get_function(
    f: Out<'_, CUfunction>,
    m: CUmodule,
    name: In<'_, c_char>,
) -> CuResult {
    with_state(|s| {
        let f = f.get()?;
        let name = name.c_str()?;
        f.write(get_function(s, m as u64, name.to_bytes())? as CUfunction);
        Ok(())
    })
}

/// Address and size of variable `name` of guest module `m`.
pub(crate) fn get_global(s: &mut State, m: u64, name: &[u8]) -> CuResult<(u64, u64)> {
    let (host, ctx) = module_host(s, m)?;
    let req = symbol_request(ctx, host, name)?;
    let (g, _) = s
        .client()?
        .call_cmd::<cmds::ModuleGetGlobal>(&req, name, 0)?;
    // Copies to it are device copies: the pointer registry must know it.
    super::memory::note_global(s, ctx, m, g.dptr, g.size);
    Ok((g.dptr, g.size))
}

pub(crate) fn module_get_global(
    dptr: Out<'_, u64>,
    bytes: Out<'_, usize>,
    m: CUmodule,
    name: In<'_, c_char>,
) -> CuResult {
    with_state(|s| {
        let name = name.c_str()?;
        let (addr, size) = get_global(s, m as u64, name.to_bytes())?;
        dptr.write_optional(addr);
        bytes.write_optional(size as usize);
        Ok(())
    })
}

/// A function's device handle, context and cached layout.
pub(crate) fn function(s: &State, f: u64) -> CuResult<(u64, u64, &[ParamInfo])> {
    match s.objects.get(&f) {
        Some(Obj::Function {
            host, ctx, layout, ..
        }) => Ok((*host, *ctx, layout)),
        _ => Err(result::INVALID_HANDLE),
    }
}

pub(crate) fn func_get_param_info(
    f: CUfunction,
    index: usize,
    offset: Out<'_, usize>,
    size: Out<'_, usize>,
) -> CuResult {
    with_state(|s| {
        let f = super::library::resolve_function(s, f as u64)?;
        let (_, _, layout) = function(s, f)?;
        let p = layout.get(index).ok_or(result::INVALID_VALUE)?;
        offset.write_optional(p.offset as usize);
        size.write_optional(p.size as usize);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_mode() {
        let mut m: c_int = 0;
        {
            assert_eq!(
                module_get_loading_mode(Out::null()),
                Err(result::INVALID_VALUE)
            );
            module_get_loading_mode((&mut m).into()).unwrap();
        }
        let eager = std::env::var("CUDA_MODULE_LOADING").as_deref() == Ok("EAGER");
        let expected = if eager {
            CU_MODULE_EAGER_LOADING
        } else {
            CU_MODULE_LAZY_LOADING
        };
        assert_eq!(m, expected);
    }
}
