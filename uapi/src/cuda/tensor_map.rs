// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Tensor maps, encoded by the device's driver.

/// Words of a `CUtensorMap` (128 bytes, 128-aligned in CUDA's memory).
pub const TENSOR_MAP_WORDS: usize = 16;

/// Highest tensor rank a tensor map describes.
pub const MAX_TENSOR_RANK: usize = 5;

/// TENSOR_MAP_ENCODE_TILED: the arguments of `cuTensorMapEncodeTiled`, the
/// arrays in place (`global_strides` has `rank - 1` entries in use).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorMapEncodeRequest {
    /// Context.
    pub ctx: u64,
    /// `CUtensorMapDataType`.
    pub data_type: u32,
    /// 1 to [`MAX_TENSOR_RANK`].
    pub rank: u32,
    /// Device address of the tensor.
    pub global_address: u64,
    /// Elements per dimension.
    pub global_dim: [u64; MAX_TENSOR_RANK],
    /// Bytes between the starts of consecutive slices of dimensions 1....
    pub global_strides: [u64; MAX_TENSOR_RANK],
    /// Box size per dimension.
    pub box_dim: [u32; MAX_TENSOR_RANK],
    /// Traversal stride per dimension.
    pub element_strides: [u32; MAX_TENSOR_RANK],
    /// `CUtensorMapInterleave`.
    pub interleave: u32,
    /// `CUtensorMapSwizzle`.
    pub swizzle: u32,
    /// `CUtensorMapL2promotion`.
    pub l2_promotion: u32,
    /// `CUtensorMapFloatOOBfill`.
    pub oob_fill: u32,
}

/// TENSOR_MAP_REPLACE_ADDRESS: a tensor map and its new global address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorMapReplaceRequest {
    /// Context.
    pub ctx: u64,
    /// New device address of the tensor.
    pub global_address: u64,
    /// The tensor map.
    pub map: [u64; TENSOR_MAP_WORDS],
}

/// Response of both tensor-map commands: the encoded map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorMapResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The `CUtensorMap` bytes.
    pub map: [u64; TENSOR_MAP_WORDS],
}

const _: () = assert!(core::mem::size_of::<TensorMapEncodeRequest>() == 160);
const _: () = assert!(core::mem::size_of::<TensorMapReplaceRequest>() == 144);
const _: () = assert!(core::mem::size_of::<TensorMapResponse>() == 136);
