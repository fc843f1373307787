// SPDX-License-Identifier: GPL-2.0

//! File operations of `/dev/vgpuN`: open makes a client, ioctls are decoded
//! and validated here before they reach it.

use crate::{
    client::Client,
    helpers,
    misc::MiscNode,
    slots::client_pin_pages,
    submit::{
        CommandSize,
        PinnedRanges,
        Prepared, //
    },
    uapi::cmd::Opcode,
    uapi::ioctl::{
        command_flags,
        submit_flags,
        Command,
        DataCommand,
        DataInfo,
        InfoArgs,
        PinArgs,
        SubmitArgs,
        WaitArgs,
        MAX_BATCH,
        MAX_PAYLOAD,
        VGPU_IOCTL_DATA_INFO,
        VGPU_IOCTL_GET_INFO,
        VGPU_IOCTL_PIN,
        VGPU_IOCTL_PIN_INFO,
        VGPU_IOCTL_SUBMIT,
        VGPU_IOCTL_SUBMIT_DATA,
        VGPU_IOCTL_UNPIN,
        VGPU_IOCTL_WAIT, //
    },
    uapi::regs::features,
    uapi::ring::MAX_SG_ENTRIES,
    userdma,
};
use kernel::{
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    page::PAGE_SIZE,
    prelude::*,
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

#[vtable]
impl MiscDevice for Client {
    type Ptr = Pin<KBox<Client>>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        // `open` runs under the global `misc_mtx`: only cheap work here. The
        // queue starts on the first SUBMIT or WAIT.
        Client::open(MiscNode::shared_of(misc))
    }

    fn ioctl(me: Pin<&Client>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        let size = _IOC_SIZE(cmd);
        let done = match cmd {
            VGPU_IOCTL_GET_INFO => get_info(&me, UserSlice::new(arg, size)),
            VGPU_IOCTL_SUBMIT => submit(&me, UserSlice::new(arg, size), false),
            VGPU_IOCTL_SUBMIT_DATA => submit(&me, UserSlice::new(arg, size), true),
            VGPU_IOCTL_DATA_INFO => data_info(&me, UserSlice::new(arg, size)),
            VGPU_IOCTL_WAIT => wait(&me, UserSlice::new(arg, size)),
            VGPU_IOCTL_PIN => pin(&me, UserSlice::new(arg, size), true),
            VGPU_IOCTL_UNPIN => pin(&me, UserSlice::new(arg, size), false),
            VGPU_IOCTL_PIN_INFO => {
                UserSlice::new(arg, size).writer().write(&me.pin_info())?;
                Ok(0)
            }
            _ => return Err(ENOTTY),
        };
        // Pinnings dropped by this call (evicted, stale, unpinned, done
        // with) that the host may have registered: released now.
        me.flush_releases();
        done
    }
}

fn get_info(client: &Client, user: UserSlice) -> Result<isize> {
    let shared = client.shared();
    let pdev = &*shared.pdev;
    let domain = helpers::pci_domain(pdev);
    let bdf = pdev.dev_id();
    let info = InfoArgs {
        device: shared.state.lock().info,
        index: shared.index,
        abi_version: shared.limits.abi_version,
        features: shared.limits.features,
        pci_domain: domain,
        // CAST: the bus, device and function fields of the devfn word.
        pci_bus: (bdf >> 8) as u8,
        pci_device: ((bdf >> 3) & 0x1f) as u8,
        pci_function: (bdf & 0x7) as u8,
        reserved0: 0,
        max_payload: MAX_PAYLOAD.min(shared.limits.max_transfer),
    };
    user.writer().write(&info)?;
    Ok(0)
}

/// Request data below this is copied with the header rather than pinned:
/// pinning and mapping cost more than copying a few pages.
const MIN_PINNED: u32 = 64 << 10;

/// Largest data of one [`DataCommand`]: what the device moves in one
/// buffer after a header of up to `MAX_PAYLOAD`, and what fits one SG list
/// (an entry per page, the header's and a partial page's). 0 without SGLs.
fn max_data(client: &Client) -> u32 {
    let limits = &client.shared().limits;
    if limits.features & features::SGL == 0 {
        return 0;
    }
    let by_list = (MAX_SG_ENTRIES as usize - 2).saturating_mul(PAGE_SIZE);
    let by_transfer = limits.max_transfer.saturating_sub(MAX_PAYLOAD) as usize;
    // CAST: at most `by_transfer`, a u32.
    by_list.min(by_transfer) as u32
}

fn data_info(client: &Client, user: UserSlice) -> Result<isize> {
    let (pinned, mine) = client.pinned_io();
    let all = client.shared().state.lock().pinned_io;
    // CAST: usize fits u64.
    let pinned = pinned as u64;
    let info = DataInfo {
        max_data: max_data(client),
        min_pinned: MIN_PINNED,
        pin_limit: ((client_pin_pages() * PAGE_SIZE) as u64)
            .min(pinned.saturating_add(userdma::memlock_room())),
        pinned,
        sgl_commands: mine.commands,
        sgl_bytes: mine.bytes,
        device_sgl_commands: all.commands,
        device_sgl_bytes: all.bytes,
        reserved: 0,
    };
    user.writer().write(&info)?;
    Ok(0)
}

/// `VGPU_IOCTL_PIN` (`register`) and `VGPU_IOCTL_UNPIN`. Pinning needs
/// the data path (SG lists), which is what uses the pinned pages: `ENXIO`
/// without it.
fn pin(client: &Client, user: UserSlice, register: bool) -> Result<isize> {
    let args: PinArgs = user.reader().read()?;
    let addr = usize::try_from(args.addr).map_err(|_| EFAULT)?;
    let len = usize::try_from(args.len).map_err(|_| EINVAL)?;
    if len == 0 || addr.checked_add(len).is_none() {
        return Err(EINVAL);
    }
    if register {
        if max_data(client) == 0 {
            return Err(ENXIO);
        }
        client.ensure_started()?;
        client.pin_registered(addr, len)?;
    } else {
        client.unpin_range(addr, len)?;
    }
    Ok(0)
}

/// Reads the batch of a SUBMIT (`data`: of a SUBMIT_DATA) as `DataCommand`s.
fn read_batch(args: &SubmitArgs, data: bool) -> Result<KVec<DataCommand>> {
    let count = args.count as usize;
    let mut reader = user_commands(args, data).reader();
    let mut cmds = KVec::with_capacity(count, GFP_KERNEL)?;
    for _ in 0..count {
        let cmd = if data {
            reader.read()?
        } else {
            DataCommand {
                cmd: reader.read()?,
                ..Default::default()
            }
        };
        cmds.push(cmd, GFP_KERNEL)?;
    }
    Ok(cmds)
}

/// Checks one command; returns its sizes and what to pin.
fn check_command(
    c: &DataCommand,
    max_payload: u32,
    max_data: u32,
) -> Result<(CommandSize, PinnedRanges)> {
    let cmd = &c.cmd;
    // Only the driver says who a client is, and what it unpins.
    if cmd.opcode == Opcode::SetClientIdentity as u16
        || cmd.opcode == Opcode::ReleaseGuestPages as u16
    {
        return Err(EPERM);
    }
    let detached = cmd.flags & command_flags::DETACHED != 0;
    let data_limit = max_data.max(MIN_PINNED - 1);
    if cmd.flags & !command_flags::ALL != 0
        || (detached && (cmd.resp_capacity != 0 || c.resp_data_len != 0))
        || cmd.reserved != 0
        || c.reserved != 0
        || cmd.req_len > max_payload
        || cmd.resp_capacity > max_payload
        || c.data_len > data_limit
        || c.resp_data_len > max_data
    {
        return Err(EINVAL);
    }
    let range = |ptr: u64, len: u32| -> Result<(usize, usize)> {
        Ok((usize::try_from(ptr).map_err(|_| EFAULT)?, len as usize))
    };
    let mut pinned = PinnedRanges::default();
    let mut size = CommandSize {
        req_len: cmd.req_len as usize,
        resp_capacity: cmd.resp_capacity as usize,
        pin_pages: 0,
    };
    if c.data_len >= MIN_PINNED {
        let r = range(c.data_ptr, c.data_len)?;
        size.pin_pages += userdma::pages_spanned(r.0, r.1)?;
        pinned.req = Some(r);
    } else {
        // The copy holds header and data: both within the copy limit.
        size.req_len += c.data_len as usize;
        if size.req_len > max_payload as usize {
            return Err(EINVAL);
        }
    }
    if c.resp_data_len != 0 {
        let r = range(c.resp_data_ptr, c.resp_data_len)?;
        size.pin_pages += userdma::pages_spanned(r.0, r.1)?;
        pinned.resp = Some(r);
    }
    Ok((size, pinned))
}

fn submit(client: &Client, user: UserSlice, data: bool) -> Result<isize> {
    let args: SubmitArgs = user.reader().read()?;
    if args.flags & !submit_flags::ALL != 0 || args.count == 0 || args.count > MAX_BATCH {
        return Err(EINVAL);
    }
    client.ensure_started()?;
    let max_payload = MAX_PAYLOAD.min(client.shared().limits.max_transfer);
    let max_data = if data { max_data(client) } else { 0 };
    let count = args.count as usize;
    // One copy of the whole array: every later decision uses this copy.
    let mut cmds = read_batch(&args, data)?;
    let mut plans = KVec::with_capacity(count, GFP_KERNEL)?;
    for c in cmds.iter() {
        plans.push(check_command(c, max_payload, max_data)?, GFP_KERNEL)?;
    }
    // Room first, then memory: a full queue costs no allocation.
    let reservation = client.reserve(
        plans.iter().map(|(size, _)| *size),
        args.flags & submit_flags::WAIT_FOR_SPACE != 0,
    )?;
    let mut batch: KVec<Prepared> = KVec::with_capacity(count, GFP_KERNEL)?;
    for (c, (size, pinned)) in cmds.iter().zip(plans.iter()) {
        let cmd = &c.cmd;
        let header = UserSlice::new(
            UserPtr::from_addr(cmd.req_ptr as usize),
            cmd.req_len as usize,
        );
        // Data too small to pin is copied after the header.
        let copied_data = match pinned.req {
            None => c.data_len as usize,
            Some(_) => 0,
        };
        let data_user = UserSlice::new(UserPtr::from_addr(c.data_ptr as usize), copied_data);
        let prepared = client.prepare(
            cmd.opcode,
            cmd.flags & command_flags::DETACHED != 0,
            *size,
            |buf| {
                let (head, rest) = buf.split_at_mut((cmd.req_len as usize).min(buf.len()));
                header.reader().read_slice(head)?;
                data_user.reader().read_slice(rest)
            },
            *pinned,
        )?;
        batch.push(prepared, GFP_KERNEL)?;
    }
    let mut seqs = KVec::new();
    client.post(reservation, batch, &mut seqs)?;
    // Report the sequence numbers. The commands are in flight whatever
    // happens here; a caller that cannot take them back gets EFAULT and
    // their slots return when the file closes.
    for (c, seq) in cmds.iter_mut().zip(seqs.iter()) {
        c.cmd.seq = *seq;
    }
    let mut writer = user_commands(&args, data).writer();
    for c in cmds.iter() {
        if data {
            writer.write(c)?;
        } else {
            writer.write(&c.cmd)?;
        }
    }
    Ok(count as isize)
}

/// The command array of a SUBMIT (`data`: of a SUBMIT_DATA).
fn user_commands(args: &SubmitArgs, data: bool) -> UserSlice {
    let item = if data {
        size_of::<DataCommand>()
    } else {
        size_of::<Command>()
    };
    UserSlice::new(
        UserPtr::from_addr(args.commands as usize),
        args.count as usize * item,
    )
}

fn wait(client: &Client, user: UserSlice) -> Result<isize> {
    let (reader, mut writer) = user.reader_writer();
    let mut reader = reader;
    let mut args: WaitArgs = reader.read()?;
    client.ensure_started()?;
    let resp_user = UserSlice::new(
        UserPtr::from_addr(args.resp_ptr as usize),
        args.resp_capacity as usize,
    );
    // Everything is copied out before the slot is freed: a caller whose
    // buffers fault gets EFAULT and can wait again.
    client.wait(args.seq, args.timeout_ms, |status, resp_len, resp| {
        if let Some(resp) = resp {
            let n = (args.resp_capacity as usize)
                .min(resp_len as usize)
                .min(resp.len());
            if n > 0 {
                resp_user.writer().write_dma(resp, 0, n)?;
            }
        }
        args.status = status;
        args.resp_len = resp_len;
        writer.write(&args)
    })?;
    Ok(0)
}
