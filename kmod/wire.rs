// SPDX-License-Identifier: GPL-2.0

//! Byte-level trust of the contract's structs: lets `UserSlice` and
//! `Coherent` read and write them.

use crate::uapi::{
    cmd::{
        ClientIdentity,
        DeviceInfo, //
    },
    ioctl::{
        Command,
        DataCommand,
        DataInfo,
        InfoArgs,
        PinArgs,
        PinInfo,
        SubmitArgs,
        WaitArgs, //
    },
    ring::{
        CompletionEntry,
        QueueControl,
        SgEntry,
        StatusPage,
        SubmissionEntry, //
    },
};
use kernel::transmute::{
    AsBytes,
    FromBytes, //
};

macro_rules! plain_old_data {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: `uapi` defines this type `#[repr(C)]` with integer and
            // integer-array fields only, and asserts its total size at
            // compile time; that size is the sum of the field sizes (checked
            // by inspection, not by the compiler), so any bit pattern is
            // valid and no byte is padding.
            unsafe impl FromBytes for $t {}
            // SAFETY: as above, every byte is initialised.
            unsafe impl AsBytes for $t {}
        )*
    };
}

plain_old_data!(
    ClientIdentity,
    DeviceInfo,
    Command,
    DataCommand,
    DataInfo,
    InfoArgs,
    PinArgs,
    PinInfo,
    SubmitArgs,
    WaitArgs,
    CompletionEntry,
    QueueControl,
    SgEntry,
    StatusPage,
    SubmissionEntry,
);
