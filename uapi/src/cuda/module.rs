// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Modules: loading images and looking up their symbols.

/// MODULE_LOAD (tail: the image: cubin ELF, fatbin, or NUL-terminated PTX).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleLoadRequest {
    /// Context.
    pub ctx: u64,
    /// Image bytes in the tail.
    pub image_len: u64,
}

/// Largest image a client may stage with MODULE_STAGE.
pub const MAX_STAGED_IMAGE: u64 = 1 << 30;

/// MODULE_STAGE (async; tail: the next bytes of an image too large for one
/// command). Appends to the client's staging buffer; a MODULE_LOAD with
/// `image_len == 0` then loads the staged image and empties the buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageRequest {
    /// Context.
    pub ctx: u64,
    /// Where the tail goes in the image: the bytes staged so far.
    pub offset: u64,
}

/// MODULE_UNLOAD.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleRequest {
    /// Context.
    pub ctx: u64,
    /// Module.
    pub module: u64,
}

/// MODULE_GET_FUNCTION and MODULE_GET_GLOBAL (tail: `name_len` bytes, no NUL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SymbolRequest {
    /// Context.
    pub ctx: u64,
    /// Module.
    pub module: u64,
    /// Name length.
    pub name_len: u32,
    /// Zero.
    pub reserved: u32,
}

/// MODULE_GET_FUNCTION response; followed by `param_count` [`ParamInfo`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionResponse {
    /// `CUresult`.
    pub result: u32,
    /// Parameters in the layout.
    pub param_count: u32,
    /// Function handle.
    pub function: u64,
}

/// One kernel parameter's place in the packed parameter buffer
/// (`cuFuncGetParamInfo`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamInfo {
    /// Byte offset.
    pub offset: u32,
    /// Byte size.
    pub size: u32,
}

/// MODULE_GET_GLOBAL response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// Device address.
    pub dptr: u64,
    /// Size in bytes.
    pub size: u64,
}

const _: () = assert!(core::mem::size_of::<SymbolRequest>() == 24);
const _: () = assert!(core::mem::size_of::<FunctionResponse>() == 16);
const _: () = assert!(core::mem::size_of::<ParamInfo>() == 8);
const _: () = assert!(core::mem::size_of::<GlobalResponse>() == 24);
const _: () = assert!(core::mem::size_of::<StageRequest>() == 16);
const _: () = assert!(core::mem::size_of::<ModuleLoadRequest>() == 16);
const _: () = assert!(core::mem::size_of::<ModuleRequest>() == 16);
