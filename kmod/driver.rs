// SPDX-License-Identifier: GPL-2.0

//! The PCI driver: probe checks identity, magic and ABI, then sets up the
//! status page, the interrupt and `/dev/vgpuN`.

use crate::{
    client::Client,
    misc::{
        DeviceIndex,
        MiscNode, //
    },
    regs::{
        self,
        BAR0_SIZE, //
    },
    shared::{
        Limits,
        Shared, //
    },
    uapi::{
        self,
        cmd::{
            DeviceInfo,
            Opcode, //
        },
        pci::{
            REGS_BAR,
            SUBSYSTEM_DEVICE_ID,
            SUBSYSTEM_VENDOR_ID, //
        },
        regs::MAGIC_VALUE,
        ring::StatusPage,
        status::Status,
    },
};
use kernel::{
    device::{
        Bound,
        Core, //
    },
    dma::{
        Coherent,
        Device as _,
        DmaMask, //
    },
    io::Io,
    irq::{
        self,
        IrqReturn,
        ThreadedHandler,
        ThreadedRegistration, //
    },
    pci,
    prelude::*,
    sync::Arc, //
};

/// How long probe waits for the device to answer its first command.
// TIMEOUT: one command round trip; generous for TCG guests.
const PROBE_TIMEOUT_MS: u32 = 5000;

pub(crate) struct VgpuDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    MODULE_PCI_TABLE,
    <VgpuDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::NVIDIA, uapi::pci::DEVICE_ID as u32),
        ()
    )]
);

/// Wakes waiters when the device posts completions.
pub(crate) struct IrqHandler {
    shared: Arc<Shared>,
}

impl ThreadedHandler for IrqHandler {
    fn handle_threaded(&self, _dev: &kernel::device::Device<Bound>) -> IrqReturn {
        self.shared.wake_all();
        IrqReturn::Handled
    }
}

/// Driver data of one bound device. Fields drop in order: the device node
/// first (no new opens), then the interrupt, then our reference to the state.
#[pin_data(PinnedDrop)]
pub(crate) struct VgpuDevice {
    #[pin]
    node: MiscNode,
    #[pin]
    irq: ThreadedRegistration<IrqHandler>,
    shared: Arc<Shared>,
}

fn check_identity(pdev: &pci::Device<Core<'_>>) -> Result {
    if pdev.subsystem_vendor_id() != SUBSYSTEM_VENDOR_ID
        || pdev.subsystem_device_id() != SUBSYSTEM_DEVICE_ID
    {
        // A real GPU (passed through) or something else: not ours.
        dev_info!(
            pdev,
            "subsystem {:04x}:{:04x} is not a VGPU-STUB; leaving the device alone\n",
            pdev.subsystem_vendor_id(),
            pdev.subsystem_device_id()
        );
        return Err(ENODEV);
    }
    Ok(())
}

fn read_limits(pdev: &pci::Device<Core<'_>>, bar: &pci::Bar<'_, BAR0_SIZE>) -> Result<Limits> {
    let magic = bar.read(regs::MAGIC).value().get();
    if magic != MAGIC_VALUE {
        dev_err!(
            pdev,
            "refusing device: magic {:#010x}, expected {:#010x} (VGPU)\n",
            magic,
            MAGIC_VALUE
        );
        return Err(ENODEV);
    }
    let abi = bar.read(regs::ABI_VERSION);
    if abi.major().get() != u32::from(uapi::ABI_MAJOR) {
        dev_err!(
            pdev,
            "refusing device: ABI version {}.{}, this driver speaks {}.x\n",
            abi.major().get(),
            abi.minor().get(),
            uapi::ABI_MAJOR
        );
        return Err(ENODEV);
    }
    let features = bar.read(regs::FEATURES);
    let limits = Limits {
        abi_version: u32::from(abi),
        features: u32::from(features),
        max_queues: bar.read(regs::MAX_QUEUES).value().get(),
        max_queue_depth: bar.read(regs::MAX_QUEUE_DEPTH).value().get(),
        max_transfer: bar.read(regs::MAX_TRANSFER).value().get(),
    };
    if !features.heartbeat()
        || limits.max_queues == 0
        || limits.max_queue_depth < uapi::ioctl::CLIENT_QUEUE_DEPTH
    {
        dev_err!(
            pdev,
            "refusing device: features {:#x}, {} queues of depth {} (need heartbeat, 1 queue, depth {})\n",
            limits.features,
            limits.max_queues,
            limits.max_queue_depth,
            uapi::ioctl::CLIENT_QUEUE_DEPTH
        );
        return Err(ENODEV);
    }
    if !bar.read(regs::DEVICE_STATUS).ready() {
        dev_err!(pdev, "refusing device: not ready\n");
        return Err(ENODEV);
    }
    Ok(limits)
}

/// Asks the device who it is, through a client queue of the driver's own.
fn fetch_identity(shared: &Arc<Shared>) -> Result {
    let client = Client::open(shared.clone())?;
    client.ensure_started()?;
    let seq = client.submit_one(Opcode::GetDeviceInfo as u16, &[], size_of::<DeviceInfo>())?;
    let mut info = DeviceInfo::default();
    client.wait(seq, PROBE_TIMEOUT_MS, |status, _resp_len, resp| {
        if status != Status::Ok as u32 {
            dev_err!(shared.pdev, "device info query failed: status {}\n", status);
            return Err(EIO);
        }
        let resp = resp.ok_or(EIO)?;
        if resp.len() < size_of::<DeviceInfo>() {
            return Err(EIO);
        }
        // SAFETY: `resp` is a live allocation of at least
        // `size_of::<DeviceInfo>()` bytes, page-aligned (coherent allocations
        // are), and `DeviceInfo` accepts any bytes. A volatile read creates no
        // reference to memory the device might still write.
        info = unsafe { resp.as_ptr().cast::<DeviceInfo>().read_volatile() };
        Ok(())
    })?;
    shared.state.lock().info = info;
    Ok(())
}

impl pci::Driver for VgpuDriver {
    type IdInfo = ();
    type Data<'bound> = VgpuDevice;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: &'bound Self::IdInfo,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            check_identity(pdev)?;
            pdev.enable_device_mem()?;
            // SAFETY: no DMA mappings or allocations exist for this device yet.
            unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<64>())? };

            let bar = pdev.iomap_region_sized::<BAR0_SIZE>(REGS_BAR, c"vgpu")?;
            let limits = read_limits(pdev, &bar)?;
            // One SG entry may describe any run a command may carry: the
            // runs of a buffer in huge pages are then one entry each, which
            // the host can register with the GPU whole.
            // SAFETY: no DMA allocation or mapping exists for this device yet.
            unsafe { pdev.dma_set_max_seg_size(limits.max_transfer) };
            // Whatever a previous driver instance left running stops before
            // the device may master the bus again.
            bar.write_reg(regs::DEVICE_CONTROL::zeroed().with_reset(true));
            let _ = bar.read(regs::DEVICE_STATUS);

            let status_page = Coherent::<StatusPage>::zeroed(pdev.as_ref(), GFP_KERNEL)?;

            let index = DeviceIndex::alloc().inspect_err(|_| {
                dev_err!(pdev, "too many vgpu devices\n");
            })?;
            let shared = Arc::pin_init(
                Shared::new(
                    pdev.into(),
                    bar.into_devres()?,
                    index.get(),
                    limits,
                    status_page,
                ),
                GFP_KERNEL,
            )?;
            // From here on, dropping `shared` (any error below) resets the
            // device and clears bus mastering before the status page is freed.
            pdev.set_master();
            shared.start_heartbeat()?;

            let vectors = pdev.alloc_irq_vectors(
                1,
                1,
                pci::IrqTypes::default()
                    .with(pci::IrqType::MsiX)
                    .with(pci::IrqType::Msi),
            )?;
            let vector = *vectors.start();
            let handler = IrqHandler {
                shared: shared.clone(),
            };

            Ok(try_pin_init!(VgpuDevice {
                irq <- pdev.request_threaded_irq(
                    vector,
                    irq::Flags::ONESHOT,
                    c"vgpu",
                    Ok::<_, Error>(handler),
                ),
                _: {
                    fetch_identity(&shared)
                        .inspect_err(|e| dev_err!(pdev, "device did not answer: {:?}\n", e))?;
                },
                node <- MiscNode::register(index, shared.clone()),
                // Nothing below can fail: unbind will cancel the watchdog.
                _: {
                    shared.enable_watchdog();
                },
                shared,
            }))
        })
    }

    fn unbind<'bound>(pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.shared.shut_down(pdev.as_ref());
    }
}

#[pinned_drop]
impl PinnedDrop for VgpuDevice {
    fn drop(self: Pin<&mut Self>) {
        dev_dbg!(self.shared.pdev, "vgpu{} removed\n", self.shared.index);
    }
}
