// SPDX-License-Identifier: GPL-2.0

//! File operations of `/dev/vgpuN`: open makes a client, ioctls are decoded
//! and validated here before they reach it.

use crate::{
    client::{
        Client,
        CommandSize,
        Prepared, //
    },
    helpers,
    misc::MiscNode,
    uapi::cmd::Opcode,
    uapi::ioctl::{
        command_flags,
        submit_flags,
        Command,
        InfoArgs,
        SubmitArgs,
        WaitArgs,
        MAX_BATCH,
        MAX_PAYLOAD,
        VGPU_IOCTL_GET_INFO,
        VGPU_IOCTL_SUBMIT,
        VGPU_IOCTL_WAIT, //
    },
};
use kernel::{
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
    transmute::AsBytes,
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
        match cmd {
            VGPU_IOCTL_GET_INFO => get_info(&me, UserSlice::new(arg, size)),
            VGPU_IOCTL_SUBMIT => submit(&me, UserSlice::new(arg, size)),
            VGPU_IOCTL_WAIT => wait(&me, UserSlice::new(arg, size)),
            _ => Err(ENOTTY),
        }
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

fn submit(client: &Client, user: UserSlice) -> Result<isize> {
    let args: SubmitArgs = user.reader().read()?;
    if args.flags & !submit_flags::ALL != 0 || args.count == 0 || args.count > MAX_BATCH {
        return Err(EINVAL);
    }
    client.ensure_started()?;
    let max_payload = MAX_PAYLOAD.min(client.shared().limits.max_transfer);
    let count = args.count as usize;
    let cmds_len = count * size_of::<Command>();
    let cmds_user = UserSlice::new(UserPtr::from_addr(args.commands as usize), cmds_len);
    let (mut reader, mut writer) = cmds_user.reader_writer();
    // One copy of the whole array: every later decision uses this copy.
    let mut cmds = KVec::with_capacity(count, GFP_KERNEL)?;
    for _ in 0..count {
        cmds.push(Command::default(), GFP_KERNEL)?;
    }
    reader.read_slice(cmds.as_mut_slice().as_bytes_mut())?;
    for cmd in cmds.iter() {
        // Only the driver says who a client is.
        if cmd.opcode == Opcode::SetClientIdentity as u16 {
            return Err(EPERM);
        }
        let detached = cmd.flags & command_flags::DETACHED != 0;
        if cmd.flags & !command_flags::ALL != 0
            || (detached && cmd.resp_capacity != 0)
            || cmd.reserved != 0
            || cmd.req_len > max_payload
            || cmd.resp_capacity > max_payload
        {
            return Err(EINVAL);
        }
    }
    let size_of_cmd = |cmd: &Command| CommandSize {
        req_len: cmd.req_len as usize,
        resp_capacity: cmd.resp_capacity as usize,
    };
    // Room first, then memory: a full queue costs no allocation.
    let reservation = client.reserve(
        cmds.iter().map(size_of_cmd),
        args.flags & submit_flags::WAIT_FOR_SPACE != 0,
    )?;
    let mut batch: KVec<Prepared> = KVec::with_capacity(count, GFP_KERNEL)?;
    for cmd in cmds.iter() {
        let req_user = UserSlice::new(
            UserPtr::from_addr(cmd.req_ptr as usize),
            cmd.req_len as usize,
        );
        let prepared = client.prepare(
            cmd.opcode,
            cmd.flags & command_flags::DETACHED != 0,
            size_of_cmd(cmd),
            |buf| req_user.reader().read_slice(buf),
        )?;
        batch.push(prepared, GFP_KERNEL)?;
    }
    let mut seqs = KVec::new();
    client.post(reservation, batch, &mut seqs)?;
    // Report the sequence numbers. The commands are in flight whatever
    // happens here; a caller that cannot take them back gets EFAULT and
    // their slots return when the file closes.
    for (cmd, seq) in cmds.iter_mut().zip(seqs.iter()) {
        cmd.seq = *seq;
    }
    writer.write_slice(cmds.as_slice().as_bytes())?;
    Ok(count as isize)
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
