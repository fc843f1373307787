// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Every exported `nvml*` symbol, in ONE declaration list.
//!
//! - `implemented`: the C signature and the area function (`crate::ffi`)
//!   it calls; versioned names (`_v2`, `_v3`) that share a layout map to
//!   the same function.
//! - `device_unsupported`: queries on a device that a guest cannot answer;
//!   they check the handle (and init) and return `NVML_ERROR_NOT_SUPPORTED`.
//! - `unsupported`: everything else `nvml.h` (API 13) declares; logging
//!   stubs returning `NVML_ERROR_NOT_SUPPORTED`. Their C arguments are
//!   ignored, which the C calling convention allows.
//!
//! Every wrapper runs behind a panic guard. `nvmlErrorString`, the one
//! function that does not return `nvmlReturn_t`, is written out below.
#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::{
    collections::BTreeMap,
    ffi::{c_char, c_int, c_uint, c_ulonglong, c_void},
    sync::OnceLock,
};

use crate::{
    ffi::{device as dv, event, memory as mem, misc, nvmlDevice_t, process as pr, system as sys},
    types::{
        error_cstr, nvmlMemory_t, nvmlMemory_v2_t, nvmlPciInfoExt_t, nvmlPciInfo_t,
        nvmlPciInfo_v1_t, nvmlProcessInfo_t, nvmlProcessInfo_v1_t, nvmlReturn_t, nvmlUtilization_t,
        ret, Result,
    },
};

/// Runs an implementation: logging set up once, panics turned into
/// `NVML_ERROR_UNKNOWN`, errors traced.
pub(crate) fn guard(name: &'static str, f: impl FnOnce() -> Result) -> nvmlReturn_t {
    vgpu_transport::export::guard(name, ret::SUCCESS, ret::UNKNOWN, f)
}

fn not_supported(name: &'static str) -> nvmlReturn_t {
    vgpu_transport::logging::init();
    tracing::debug!("{name}: not supported by vgpu (NVML_ERROR_NOT_SUPPORTED)");
    ret::NOT_SUPPORTED
}

macro_rules! exports {
    (
        implemented { $( $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) => $imp:path ; )* }
        device_unsupported { $( $dname:ident ),* $(,)? }
        unsupported { $( $stub:ident ),* $(,)? }
    ) => {
        $(
            #[no_mangle]
            #[allow(unused_unsafe)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> nvmlReturn_t {
                // SAFETY: the C caller's arguments, as nvml.h defines them.
                guard(stringify!($name), move || unsafe { $imp($($arg),*) })
            }
        )*
        $(
            #[no_mangle]
            pub unsafe extern "C" fn $dname(device: nvmlDevice_t) -> nvmlReturn_t {
                guard(stringify!($dname), move || misc::unknown(device))
            }
        )*
        $(
            #[no_mangle]
            pub unsafe extern "C" fn $stub() -> nvmlReturn_t {
                not_supported(stringify!($stub))
            }
        )*
        /// Every exported name → its address (nvmlErrorString included).
        pub fn table() -> &'static BTreeMap<&'static str, usize> {
            static T: OnceLock<BTreeMap<&'static str, usize>> = OnceLock::new();
            T.get_or_init(|| {
                let mut m = BTreeMap::new();
                $( m.insert(stringify!($name), $name as *const () as usize); )*
                $( m.insert(stringify!($dname), $dname as *const () as usize); )*
                $( m.insert(stringify!($stub), $stub as *const () as usize); )*
                m.insert("nvmlErrorString", nvmlErrorString as *const () as usize);
                m
            })
        }
        /// (implemented, device_unsupported, unsupported) counts.
        pub const COUNTS: (usize, usize, usize) = (
            [$(stringify!($name)),*].len(),
            [$(stringify!($dname)),*].len(),
            [$(stringify!($stub)),*].len(),
        );
    };
}

/// `const char *nvmlErrorString(nvmlReturn_t)`: a static string for every code.
#[no_mangle]
pub extern "C" fn nvmlErrorString(result: nvmlReturn_t) -> *const c_char {
    error_cstr(result).as_ptr().cast()
}

type Out<T> = *mut T;

exports! {
    implemented {
        // init / system
        nvmlInit() => sys::init;
        nvmlInit_v2() => sys::init;
        nvmlInitWithFlags(flags: c_uint) => sys::init_with_flags;
        nvmlShutdown() => sys::shutdown;
        nvmlSystemGetDriverVersion(version: *mut c_char, length: c_uint) => sys::get_driver_version;
        nvmlSystemGetNVMLVersion(version: *mut c_char, length: c_uint) => sys::get_nvml_version;
        nvmlSystemGetCudaDriverVersion(v: Out<c_int>) => sys::get_cuda_driver_version;
        nvmlSystemGetCudaDriverVersion_v2(v: Out<c_int>) => sys::get_cuda_driver_version;
        nvmlSystemGetProcessName(pid: c_uint, name: *mut c_char, length: c_uint) => sys::get_process_name;
        nvmlInternalGetExportTable(pp: Out<*const c_void>, id: *const c_void) => sys::internal_get_export_table;
        // enumeration and handles
        nvmlDeviceGetCount(count: Out<c_uint>) => dv::get_count;
        nvmlDeviceGetCount_v2(count: Out<c_uint>) => dv::get_count;
        nvmlDeviceGetHandleByIndex(index: c_uint, device: Out<nvmlDevice_t>) => dv::get_handle_by_index;
        nvmlDeviceGetHandleByIndex_v2(index: c_uint, device: Out<nvmlDevice_t>) => dv::get_handle_by_index;
        nvmlDeviceGetHandleByUUID(uuid: *const c_char, device: Out<nvmlDevice_t>) => dv::get_handle_by_uuid;
        nvmlDeviceGetHandleByPciBusId(bus: *const c_char, device: Out<nvmlDevice_t>) => dv::get_handle_by_pci_bus_id;
        nvmlDeviceGetHandleByPciBusId_v2(bus: *const c_char, device: Out<nvmlDevice_t>) => dv::get_handle_by_pci_bus_id;
        nvmlDeviceGetHandleBySerial(serial: *const c_char, device: Out<nvmlDevice_t>) => dv::get_handle_by_serial;
        nvmlDeviceGetIndex(device: nvmlDevice_t, index: Out<c_uint>) => dv::get_index;
        // identity
        nvmlDeviceGetName(device: nvmlDevice_t, name: *mut c_char, length: c_uint) => dv::get_name;
        nvmlDeviceGetUUID(device: nvmlDevice_t, uuid: *mut c_char, length: c_uint) => dv::get_uuid;
        nvmlDeviceGetSerial(device: nvmlDevice_t, serial: *mut c_char, length: c_uint) => dv::get_serial;
        nvmlDeviceGetPciInfo(device: nvmlDevice_t, pci: Out<nvmlPciInfo_v1_t>) => dv::get_pci_info_v1;
        nvmlDeviceGetPciInfo_v2(device: nvmlDevice_t, pci: Out<nvmlPciInfo_v1_t>) => dv::get_pci_info_v1;
        nvmlDeviceGetPciInfo_v3(device: nvmlDevice_t, pci: Out<nvmlPciInfo_t>) => dv::get_pci_info_v3;
        nvmlDeviceGetPciInfoExt(device: nvmlDevice_t, pci: Out<nvmlPciInfoExt_t>) => dv::get_pci_info_ext;
        nvmlDeviceGetCudaComputeCapability(device: nvmlDevice_t, major: Out<c_int>, minor: Out<c_int>) => dv::get_cuda_compute_capability;
        nvmlDeviceGetBrand(device: nvmlDevice_t, brand: Out<c_uint>) => dv::get_brand;
        nvmlDeviceGetArchitecture(device: nvmlDevice_t, arch: Out<c_uint>) => dv::get_architecture;
        nvmlDeviceGetMinorNumber(device: nvmlDevice_t, minor: Out<c_uint>) => dv::get_minor_number;
        nvmlDeviceGetBoardId(device: nvmlDevice_t, board: Out<c_uint>) => dv::get_board_id;
        // memory and utilisation
        nvmlDeviceGetMemoryInfo(device: nvmlDevice_t, memory: Out<nvmlMemory_t>) => mem::get_memory_info;
        nvmlDeviceGetMemoryInfo_v2(device: nvmlDevice_t, memory: Out<nvmlMemory_v2_t>) => mem::get_memory_info_v2;
        nvmlDeviceGetUtilizationRates(device: nvmlDevice_t, util: Out<nvmlUtilization_t>) => mem::get_utilization_rates;
        // processes
        nvmlDeviceGetComputeRunningProcesses(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_v1_t>) => pr::compute_v1;
        nvmlDeviceGetComputeRunningProcesses_v2(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_t>) => pr::compute_v2;
        nvmlDeviceGetComputeRunningProcesses_v3(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_t>) => pr::compute_v2;
        nvmlDeviceGetGraphicsRunningProcesses(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_v1_t>) => pr::none_v1;
        nvmlDeviceGetGraphicsRunningProcesses_v2(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_t>) => pr::none_v2;
        nvmlDeviceGetGraphicsRunningProcesses_v3(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_t>) => pr::none_v2;
        nvmlDeviceGetMPSComputeRunningProcesses(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_v1_t>) => pr::none_v1;
        nvmlDeviceGetMPSComputeRunningProcesses_v2(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_t>) => pr::none_v2;
        nvmlDeviceGetMPSComputeRunningProcesses_v3(device: nvmlDevice_t, count: Out<c_uint>, infos: Out<nvmlProcessInfo_t>) => pr::none_v2;
        // fixed modes
        nvmlDeviceGetPersistenceMode(device: nvmlDevice_t, mode: Out<c_uint>) => misc::disabled;
        nvmlDeviceGetDisplayMode(device: nvmlDevice_t, mode: Out<c_uint>) => misc::disabled;
        nvmlDeviceGetDisplayActive(device: nvmlDevice_t, mode: Out<c_uint>) => misc::disabled;
        nvmlDeviceGetComputeMode(device: nvmlDevice_t, mode: Out<c_uint>) => misc::compute_mode;
        // A virtual GPU has no InfoROM that could be corrupt.
        nvmlDeviceValidateInforom(device: nvmlDevice_t) => misc::valid;
        // Not a MIG device, no MIG slices, and to the guest's own software
        // the GPU looks like bare metal (virtualization mode NONE), which
        // keeps nvidia-smi off vGPU-licensing paths.
        nvmlDeviceIsMigDeviceHandle(device: nvmlDevice_t, is_mig: Out<c_uint>) => misc::zero;
        nvmlDeviceGetMaxMigDeviceCount(device: nvmlDevice_t, count: Out<c_uint>) => misc::zero;
        nvmlDeviceGetVirtualizationMode(device: nvmlDevice_t, mode: Out<c_uint>) => misc::zero;
        // events: sets that never fire
        nvmlEventSetCreate(set: Out<*const c_void>) => event::create;
        nvmlEventSetFree(set: *const c_void) => event::free;
        nvmlDeviceRegisterEvents(device: nvmlDevice_t, types: c_ulonglong, set: *const c_void) => event::register;
        nvmlDeviceGetSupportedEventTypes(device: nvmlDevice_t, types: Out<c_ulonglong>) => event::supported_types;
        nvmlEventSetWait(set: *const c_void, data: *mut c_void, timeout: c_uint) => event::wait;
        nvmlEventSetWait_v2(set: *const c_void, data: *mut c_void, timeout: c_uint) => event::wait;
    }
    device_unsupported {
        nvmlDeviceGetAccountingMode,
        nvmlDeviceGetAdaptiveClockInfoStatus,
        nvmlDeviceGetApplicationsClock,
        nvmlDeviceGetAttributes,
        nvmlDeviceGetAttributes_v2,
        nvmlDeviceGetAutoBoostedClocksEnabled,
        nvmlDeviceGetBAR1MemoryInfo,
        nvmlDeviceGetBusType,
        nvmlDeviceGetC2cModeInfoV,
        nvmlDeviceGetClock,
        nvmlDeviceGetClockInfo,
        nvmlDeviceGetConfComputeGpuAttestationReport,
        nvmlDeviceGetConfComputeGpuCertificate,
        nvmlDeviceGetConfComputeMemSizeInfo,
        nvmlDeviceGetConfComputeProtectedMemoryUsage,
        nvmlDeviceGetCoolerInfo,
        nvmlDeviceGetCpuAffinity,
        nvmlDeviceGetCpuAffinityWithinScope,
        nvmlDeviceGetCurrPcieLinkGeneration,
        nvmlDeviceGetCurrPcieLinkWidth,
        nvmlDeviceGetCurrentClocksEventReasons,
        nvmlDeviceGetCurrentClocksThrottleReasons,
        nvmlDeviceGetDecoderUtilization,
        nvmlDeviceGetDefaultApplicationsClock,
        nvmlDeviceGetDetailedEccErrors,
        nvmlDeviceGetDriverModel,
        nvmlDeviceGetDriverModel_v2,
        nvmlDeviceGetDynamicPstatesInfo,
        nvmlDeviceGetEccMode,
        nvmlDeviceGetEncoderCapacity,
        nvmlDeviceGetEncoderStats,
        nvmlDeviceGetEncoderUtilization,
        nvmlDeviceGetEnforcedPowerLimit,
        nvmlDeviceGetFBCStats,
        nvmlDeviceGetFanControlPolicy_v2,
        nvmlDeviceGetFanSpeed,
        nvmlDeviceGetFanSpeed_v2,
        nvmlDeviceGetFieldValues,
        nvmlDeviceGetGpcClkVfOffset,
        nvmlDeviceGetGpuFabricInfo,
        nvmlDeviceGetGpuFabricInfoV,
        nvmlDeviceGetGpuMaxPcieLinkGeneration,
        nvmlDeviceGetGpuOperationMode,
        nvmlDeviceGetGspFirmwareMode,
        nvmlDeviceGetGspFirmwareVersion,
        nvmlDeviceGetHostVgpuMode,
        nvmlDeviceGetInforomConfigurationChecksum,
        nvmlDeviceGetInforomImageVersion,
        nvmlDeviceGetInforomVersion,
        nvmlDeviceGetIrqNum,
        nvmlDeviceGetJpgUtilization,
        nvmlDeviceGetLastBBXFlushTime,
        nvmlDeviceGetMarginTemperature,
        nvmlDeviceGetMaxClockInfo,
        nvmlDeviceGetMaxPcieLinkGeneration,
        nvmlDeviceGetMaxPcieLinkWidth,
        nvmlDeviceGetMemClkVfOffset,
        nvmlDeviceGetMemoryAffinity,
        nvmlDeviceGetMemoryBusWidth,
        nvmlDeviceGetMemoryErrorCounter,
        nvmlDeviceGetMigMode,
        nvmlDeviceGetMinMaxClockOfPState,
        nvmlDeviceGetMinMaxFanSpeed,
        nvmlDeviceGetModuleId,
        nvmlDeviceGetMultiGpuBoard,
        nvmlDeviceGetNumFans,
        nvmlDeviceGetNumGpuCores,
        nvmlDeviceGetNumaNodeId,
        nvmlDeviceGetOfaUtilization,
        nvmlDeviceGetPcieLinkMaxSpeed,
        nvmlDeviceGetPcieReplayCounter,
        nvmlDeviceGetPcieSpeed,
        nvmlDeviceGetPcieThroughput,
        nvmlDeviceGetPerformanceState,
        nvmlDeviceGetPgpuMetadataString,
        nvmlDeviceGetPowerManagementDefaultLimit,
        nvmlDeviceGetPowerManagementLimit,
        nvmlDeviceGetPowerManagementLimitConstraints,
        nvmlDeviceGetPowerManagementMode,
        nvmlDeviceGetPowerSource,
        nvmlDeviceGetPowerState,
        nvmlDeviceGetPowerUsage,
        nvmlDeviceGetProcessUtilization,
        nvmlDeviceGetProcessesUtilizationInfo,
        nvmlDeviceGetRemappedRows,
        nvmlDeviceGetRetiredPages,
        nvmlDeviceGetRetiredPagesPendingStatus,
        nvmlDeviceGetRowRemapperHistogram,
        nvmlDeviceGetRunningProcessDetailList,
        nvmlDeviceGetSamples,
        nvmlDeviceGetSramEccErrorStatus,
        nvmlDeviceGetSupportedClocksEventReasons,
        nvmlDeviceGetSupportedClocksThrottleReasons,
        nvmlDeviceGetSupportedPerformanceStates,
        nvmlDeviceGetTargetFanSpeed,
        nvmlDeviceGetTemperature,
        nvmlDeviceGetTemperatureThreshold,
        nvmlDeviceGetTemperatureV,
        nvmlDeviceGetThermalSettings,
        nvmlDeviceGetTotalEccErrors,
        nvmlDeviceGetTotalEnergyConsumption,
        nvmlDeviceGetVbiosVersion,
        nvmlDeviceGetViolationStatus,
    }
    unsupported {
        nvmlComputeInstanceDestroy,
        nvmlComputeInstanceGetInfo,
        nvmlComputeInstanceGetInfo_v2,
        nvmlDeviceClearAccountingPids,
        nvmlDeviceClearCpuAffinity,
        nvmlDeviceClearEccErrorCounts,
        nvmlDeviceClearFieldValues,
        nvmlDeviceCreateGpuInstance,
        nvmlDeviceCreateGpuInstanceWithPlacement,
        nvmlDeviceDiscoverGpus,
        nvmlDeviceFreezeNvLinkUtilizationCounter,
        nvmlDeviceGetAPIRestriction,
        nvmlDeviceGetAccountingBufferSize,
        nvmlDeviceGetAccountingPids,
        nvmlDeviceGetAccountingStats,
        nvmlDeviceGetAccountingStats_v2,
        nvmlDeviceGetActiveVgpus,
        nvmlDeviceGetAddressingMode,
        nvmlDeviceGetBBXTimeData_v1,
        nvmlDeviceGetBoardPartNumber,
        nvmlDeviceGetBridgeChipInfo,
        nvmlDeviceGetCapabilities,
        nvmlDeviceGetClkMonStatus,
        nvmlDeviceGetClockOffsets,
        nvmlDeviceGetComputeInstanceId,
        nvmlDeviceGetCreatableVgpus,
        nvmlDeviceGetCurrentClockFreqs,
        nvmlDeviceGetDefaultEccMode,
        nvmlDeviceGetDeviceHandleFromMigDeviceHandle,
        nvmlDeviceGetDramEncryptionMode,
        nvmlDeviceGetEncoderSessions,
        nvmlDeviceGetFBCSessions,
        nvmlDeviceGetFanSpeedRPM,
        nvmlDeviceGetGpcClkMinMaxVfOffset,
        nvmlDeviceGetGpuInstanceById,
        nvmlDeviceGetGpuInstanceId,
        nvmlDeviceGetGpuInstancePossiblePlacements,
        nvmlDeviceGetGpuInstancePossiblePlacements_v2,
        nvmlDeviceGetGpuInstanceProfileInfo,
        nvmlDeviceGetGpuInstanceProfileInfoByIdV,
        nvmlDeviceGetGpuInstanceProfileInfoV,
        nvmlDeviceGetGpuInstanceRemainingCapacity,
        nvmlDeviceGetGpuInstances,
        nvmlDeviceGetGridLicensableFeatures,
        nvmlDeviceGetGridLicensableFeatures_v2,
        nvmlDeviceGetGridLicensableFeatures_v3,
        nvmlDeviceGetGridLicensableFeatures_v4,
        nvmlDeviceGetHandleByUUIDV,
        nvmlDeviceGetHostname_v1,
        nvmlDeviceGetMaxCustomerBoostClock,
        nvmlDeviceGetMemClkMinMaxVfOffset,
        nvmlDeviceGetMigDeviceHandleByIndex,
        nvmlDeviceGetNvLinkCapability,
        nvmlDeviceGetNvLinkErrorCounter,
        nvmlDeviceGetNvLinkInfo,
        nvmlDeviceGetNvLinkRemoteDeviceType,
        nvmlDeviceGetNvLinkRemotePciInfo,
        nvmlDeviceGetNvLinkRemotePciInfo_v2,
        nvmlDeviceGetNvLinkState,
        nvmlDeviceGetNvLinkUtilizationControl,
        nvmlDeviceGetNvLinkUtilizationCounter,
        nvmlDeviceGetNvLinkVersion,
        nvmlDeviceGetNvlinkBwMode,
        nvmlDeviceGetNvlinkSupportedBwModes,
        nvmlDeviceGetP2PStatus,
        nvmlDeviceGetPdi,
        nvmlDeviceGetPerformanceModes,
        nvmlDeviceGetPlatformInfo,
        nvmlDeviceGetPowerMizerMode_v1,
        nvmlDeviceGetRemappedRows_v2,
        nvmlDeviceGetRepairStatus,
        nvmlDeviceGetRetiredPages_v2,
        nvmlDeviceGetSramUniqueUncorrectedEccErrorCounts,
        nvmlDeviceGetSupportedGraphicsClocks,
        nvmlDeviceGetSupportedMemoryClocks,
        nvmlDeviceGetSupportedVgpus,
        nvmlDeviceGetTopologyCommonAncestor,
        nvmlDeviceGetTopologyNearestGpus,
        nvmlDeviceGetUnrepairableMemoryFlag_v1,
        nvmlDeviceGetVgpuCapabilities,
        nvmlDeviceGetVgpuHeterogeneousMode,
        nvmlDeviceGetVgpuInstancesUtilizationInfo,
        nvmlDeviceGetVgpuMetadata,
        nvmlDeviceGetVgpuProcessUtilization,
        nvmlDeviceGetVgpuProcessesUtilizationInfo,
        nvmlDeviceGetVgpuSchedulerCapabilities,
        nvmlDeviceGetVgpuSchedulerLog,
        nvmlDeviceGetVgpuSchedulerLog_v2,
        nvmlDeviceGetVgpuSchedulerState,
        nvmlDeviceGetVgpuSchedulerState_v2,
        nvmlDeviceGetVgpuTypeCreatablePlacements,
        nvmlDeviceGetVgpuTypeSupportedPlacements,
        nvmlDeviceGetVgpuUtilization,
        nvmlDeviceModifyDrainState,
        nvmlDeviceOnSameBoard,
        nvmlDevicePowerSmoothingActivatePresetProfile,
        nvmlDevicePowerSmoothingSetState,
        nvmlDevicePowerSmoothingUpdatePresetProfileParam,
        nvmlDeviceQueryDrainState,
        nvmlDeviceReadPRMCounters_v1,
        nvmlDeviceReadWritePRM_v1,
        nvmlDeviceRemoveGpu,
        nvmlDeviceRemoveGpu_v2,
        nvmlDeviceResetApplicationsClocks,
        nvmlDeviceResetGpuLockedClocks,
        nvmlDeviceResetMemoryLockedClocks,
        nvmlDeviceResetNvLinkErrorCounters,
        nvmlDeviceResetNvLinkUtilizationCounter,
        nvmlDeviceSetAPIRestriction,
        nvmlDeviceSetAccountingMode,
        nvmlDeviceSetApplicationsClocks,
        nvmlDeviceSetAutoBoostedClocksEnabled,
        nvmlDeviceSetClockOffsets,
        nvmlDeviceSetComputeMode,
        nvmlDeviceSetConfComputeUnprotectedMemSize,
        nvmlDeviceSetCpuAffinity,
        nvmlDeviceSetDefaultAutoBoostedClocksEnabled,
        nvmlDeviceSetDefaultFanSpeed_v2,
        nvmlDeviceSetDramEncryptionMode,
        nvmlDeviceSetDriverModel,
        nvmlDeviceSetEccMode,
        nvmlDeviceSetFanControlPolicy,
        nvmlDeviceSetFanSpeed_v2,
        nvmlDeviceSetGpcClkVfOffset,
        nvmlDeviceSetGpuLockedClocks,
        nvmlDeviceSetGpuOperationMode,
        nvmlDeviceSetHostname_v1,
        nvmlDeviceSetMemClkVfOffset,
        nvmlDeviceSetMemoryLockedClocks,
        nvmlDeviceSetMigMode,
        nvmlDeviceSetNvLinkDeviceLowPowerThreshold,
        nvmlDeviceSetNvLinkUtilizationControl,
        nvmlDeviceSetNvlinkBwMode,
        nvmlDeviceSetPersistenceMode,
        nvmlDeviceSetPowerManagementLimit,
        nvmlDeviceSetPowerManagementLimit_v2,
        nvmlDeviceSetPowerMizerMode_v1,
        nvmlDeviceSetRusdSettings_v1,
        nvmlDeviceSetTemperatureThreshold,
        nvmlDeviceSetVgpuCapabilities,
        nvmlDeviceSetVgpuHeterogeneousMode,
        nvmlDeviceSetVgpuSchedulerState,
        nvmlDeviceSetVgpuSchedulerState_v2,
        nvmlDeviceSetVirtualizationMode,
        nvmlDeviceVgpuForceGspUnload,
        nvmlDeviceWorkloadPowerProfileClearRequestedProfiles,
        nvmlDeviceWorkloadPowerProfileGetCurrentProfiles,
        nvmlDeviceWorkloadPowerProfileGetProfilesInfo,
        nvmlDeviceWorkloadPowerProfileSetRequestedProfiles,
        nvmlDeviceWorkloadPowerProfileUpdateProfiles_v1,
        nvmlGetExcludedDeviceCount,
        nvmlGetExcludedDeviceInfoByIndex,
        nvmlGetVgpuCompatibility,
        nvmlGetVgpuDriverCapabilities,
        nvmlGetVgpuVersion,
        nvmlGpmMetricsGet,
        nvmlGpmMigSampleGet,
        nvmlGpmQueryDeviceSupport,
        nvmlGpmQueryIfStreamingEnabled,
        nvmlGpmSampleAlloc,
        nvmlGpmSampleFree,
        nvmlGpmSampleGet,
        nvmlGpmSetStreamingEnabled,
        nvmlGpuInstanceCreateComputeInstance,
        nvmlGpuInstanceCreateComputeInstanceWithPlacement,
        nvmlGpuInstanceDestroy,
        nvmlGpuInstanceGetActiveVgpus,
        nvmlGpuInstanceGetComputeInstanceById,
        nvmlGpuInstanceGetComputeInstancePossiblePlacements,
        nvmlGpuInstanceGetComputeInstanceProfileInfo,
        nvmlGpuInstanceGetComputeInstanceProfileInfoV,
        nvmlGpuInstanceGetComputeInstanceRemainingCapacity,
        nvmlGpuInstanceGetComputeInstances,
        nvmlGpuInstanceGetCreatableVgpus,
        nvmlGpuInstanceGetInfo,
        nvmlGpuInstanceGetVgpuHeterogeneousMode,
        nvmlGpuInstanceGetVgpuSchedulerLog,
        nvmlGpuInstanceGetVgpuSchedulerLog_v2,
        nvmlGpuInstanceGetVgpuSchedulerState,
        nvmlGpuInstanceGetVgpuSchedulerState_v2,
        nvmlGpuInstanceGetVgpuTypeCreatablePlacements,
        nvmlGpuInstanceSetVgpuHeterogeneousMode,
        nvmlGpuInstanceSetVgpuSchedulerState,
        nvmlGpuInstanceSetVgpuSchedulerState_v2,
        nvmlSetVgpuVersion,
        nvmlSystemEventSetCreate,
        nvmlSystemEventSetFree,
        nvmlSystemEventSetWait,
        nvmlSystemGetCPER_v1,
        nvmlSystemGetConfComputeCapabilities,
        nvmlSystemGetConfComputeGpusReadyState,
        nvmlSystemGetConfComputeKeyRotationThresholdInfo,
        nvmlSystemGetConfComputeSettings,
        nvmlSystemGetConfComputeState,
        nvmlSystemGetDriverBranch,
        nvmlSystemGetHicVersion,
        nvmlSystemGetNvlinkBwMode,
        nvmlSystemGetTopologyGpuSet,
        nvmlSystemRegisterEvents,
        nvmlSystemSetConfComputeGpusReadyState,
        nvmlSystemSetConfComputeKeyRotationThresholdInfo,
        nvmlSystemSetNvlinkBwMode,
        nvmlUnitGetCount,
        nvmlUnitGetDevices,
        nvmlUnitGetFanSpeedInfo,
        nvmlUnitGetHandleByIndex,
        nvmlUnitGetLedState,
        nvmlUnitGetPsuInfo,
        nvmlUnitGetTemperature,
        nvmlUnitGetUnitInfo,
        nvmlUnitSetLedState,
        nvmlVgpuInstanceClearAccountingPids,
        nvmlVgpuInstanceGetAccountingMode,
        nvmlVgpuInstanceGetAccountingPids,
        nvmlVgpuInstanceGetAccountingStats,
        nvmlVgpuInstanceGetEccMode,
        nvmlVgpuInstanceGetEncoderCapacity,
        nvmlVgpuInstanceGetEncoderSessions,
        nvmlVgpuInstanceGetEncoderStats,
        nvmlVgpuInstanceGetFBCSessions,
        nvmlVgpuInstanceGetFBCStats,
        nvmlVgpuInstanceGetFbUsage,
        nvmlVgpuInstanceGetFrameRateLimit,
        nvmlVgpuInstanceGetGpuInstanceId,
        nvmlVgpuInstanceGetGpuPciId,
        nvmlVgpuInstanceGetLicenseInfo,
        nvmlVgpuInstanceGetLicenseInfo_v2,
        nvmlVgpuInstanceGetLicenseStatus,
        nvmlVgpuInstanceGetMdevUUID,
        nvmlVgpuInstanceGetMetadata,
        nvmlVgpuInstanceGetPlacementId,
        nvmlVgpuInstanceGetRuntimeStateSize,
        nvmlVgpuInstanceGetType,
        nvmlVgpuInstanceGetUUID,
        nvmlVgpuInstanceGetVmDriverVersion,
        nvmlVgpuInstanceGetVmID,
        nvmlVgpuInstanceSetEncoderCapacity,
        nvmlVgpuTypeGetBAR1Info,
        nvmlVgpuTypeGetCapabilities,
        nvmlVgpuTypeGetClass,
        nvmlVgpuTypeGetDeviceID,
        nvmlVgpuTypeGetFbReservation,
        nvmlVgpuTypeGetFrameRateLimit,
        nvmlVgpuTypeGetFramebufferSize,
        nvmlVgpuTypeGetGpuInstanceProfileId,
        nvmlVgpuTypeGetGspHeapSize,
        nvmlVgpuTypeGetLicense,
        nvmlVgpuTypeGetMaxInstances,
        nvmlVgpuTypeGetMaxInstancesPerGpuInstance,
        nvmlVgpuTypeGetMaxInstancesPerVm,
        nvmlVgpuTypeGetName,
        nvmlVgpuTypeGetNumDisplayHeads,
        nvmlVgpuTypeGetResolution,
    }
}
