//! The `/dev/vgpuN` transport: thin, checked wrappers over the ioctls of
//! `uapi::ioctl`. One open file is one client on the device.

use std::{
    fmt,
    os::fd::{AsRawFd, OwnedFd},
    path::Path,
};

use uapi::ioctl::{
    Command, DataCommand, DataInfo, InfoArgs, PinArgs, PinInfo, SubmitArgs, WaitArgs,
};

/// An errno from the driver, with the operation that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevError {
    /// What was attempted.
    pub op: &'static str,
    /// The errno.
    pub errno: i32,
}

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.op,
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

impl std::error::Error for DevError {}

/// The result of a finished command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// `uapi::status::Status` value.
    pub status: u32,
    /// Response bytes the device wrote (may exceed the buffer given to `wait`).
    pub resp_len: u32,
}

/// An open `/dev/vgpuN`.
#[derive(Debug)]
pub struct VgpuFile {
    fd: OwnedFd,
}

/// The driver's ioctls, each bound to the argument type its request
/// number encodes (the numbers are `uapi`'s).
mod ioctls {
    use uapi::ioctl::*;
    nix::ioctl_read_bad!(get_info, VGPU_IOCTL_GET_INFO, InfoArgs);
    nix::ioctl_read_bad!(data_info, VGPU_IOCTL_DATA_INFO, DataInfo);
    nix::ioctl_read_bad!(pin_info, VGPU_IOCTL_PIN_INFO, PinInfo);
    nix::ioctl_write_ptr_bad!(pin, VGPU_IOCTL_PIN, PinArgs);
    nix::ioctl_write_ptr_bad!(unpin, VGPU_IOCTL_UNPIN, PinArgs);
    nix::ioctl_readwrite_bad!(submit, VGPU_IOCTL_SUBMIT, SubmitArgs);
    nix::ioctl_readwrite_bad!(submit_data, VGPU_IOCTL_SUBMIT_DATA, SubmitArgs);
    nix::ioctl_readwrite_bad!(wait, VGPU_IOCTL_WAIT, WaitArgs);
}

/// Runs one of [`ioctls`] on `arg`, naming `op` in its error.
macro_rules! ioctl {
    ($file:expr, $op:literal, $name:ident, $arg:expr) => {
        // SAFETY: `$arg` is a live value of the type the request is bound to
        // (`ioctls`), exclusive where the driver writes it: what the driver
        // reads and writes is that struct.
        unsafe { ioctls::$name($file.fd.as_raw_fd(), $arg) }.map_err(|e| DevError {
            op: $op,
            errno: e as i32,
        })
    };
}

impl VgpuFile {
    /// Opens a device node (`/dev/vgpu0`, ...).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DevError> {
        // std opens with O_CLOEXEC.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| DevError {
                op: "open",
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            })?;
        Ok(Self {
            fd: OwnedFd::from(file),
        })
    }

    /// Issues a raw ioctl; for tests that probe the driver's validation.
    ///
    /// # Safety
    ///
    /// `arg` is passed to the kernel as is: if it points to memory, that
    /// memory must be valid for whatever the request reads or writes.
    pub unsafe fn raw_ioctl(&self, request: u32, arg: usize) -> Result<i32, DevError> {
        // SAFETY: the caller vouches for `arg`.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, arg) };
        if r < 0 {
            return Err(DevError {
                op: "ioctl",
                errno: nix::errno::Errno::last_raw(),
            });
        }
        Ok(r)
    }

    /// Identity and limits of the device.
    pub fn info(&self) -> Result<InfoArgs, DevError> {
        let mut info = InfoArgs::default();
        ioctl!(self, "get info", get_info, &mut info)?;
        Ok(info)
    }

    /// Limits and counters of the data path (`ENOTTY` from a driver
    /// without one).
    pub fn data_info(&self) -> Result<DataInfo, DevError> {
        let mut info = DataInfo::default();
        ioctl!(self, "data info", data_info, &mut info)?;
        Ok(info)
    }

    /// The driver's pin cache of this file.
    pub fn pin_info(&self) -> Result<PinInfo, DevError> {
        let mut info = PinInfo::default();
        ioctl!(self, "pin info", pin_info, &mut info)?;
        Ok(info)
    }

    /// Pins `len` bytes at `addr` for this file until [`Self::unpin`].
    pub fn pin(&self, addr: usize, len: usize) -> Result<(), DevError> {
        let args = PinArgs {
            addr: addr as u64,
            len: len as u64,
        };
        ioctl!(self, "pin", pin, &args).map(drop)
    }

    /// Ends a [`Self::pin`] of the same range.
    pub fn unpin(&self, addr: usize, len: usize) -> Result<(), DevError> {
        let args = PinArgs {
            addr: addr as u64,
            len: len as u64,
        };
        ioctl!(self, "unpin", unpin, &args).map(drop)
    }

    /// Submits `commands` with their data by pointer, waiting for room;
    /// fills in each `seq`.
    ///
    /// # Safety
    ///
    /// Every pointer in `commands` is valid for what the command does with
    /// it (reads of requests and request data, device writes of response
    /// data) until the command is collected (see [`DataCommand`]).
    pub unsafe fn submit_data_commands(
        &self,
        commands: &mut [DataCommand],
    ) -> Result<(), DevError> {
        let mut args = SubmitArgs {
            commands: commands.as_mut_ptr() as u64,
            count: u32::try_from(commands.len()).map_err(|_| DevError {
                op: "submit data",
                errno: libc::EINVAL,
            })?,
            flags: uapi::ioctl::submit_flags::WAIT_FOR_SPACE,
        };
        loop {
            match ioctl!(self, "submit data", submit_data, &mut args) {
                Err(e) if e.errno == libc::EINTR => continue,
                r => return r.map(drop),
            }
        }
    }

    /// Submits `commands` (their request pointers must be valid); fills in
    /// each `seq`.
    pub fn submit(&self, commands: &mut [Command]) -> Result<(), DevError> {
        self.submit_with_flags(commands, 0)
    }

    /// Submits `commands` with [`uapi::ioctl::submit_flags`] `flags`.
    pub fn submit_with_flags(&self, commands: &mut [Command], flags: u32) -> Result<(), DevError> {
        let mut args = SubmitArgs {
            commands: commands.as_mut_ptr() as u64,
            count: u32::try_from(commands.len()).map_err(|_| DevError {
                op: "submit",
                errno: libc::EINVAL,
            })?,
            flags,
        };
        ioctl!(self, "submit", submit, &mut args)?;
        Ok(())
    }

    /// Submits one command with `request` as its body and room for
    /// `resp_capacity` response bytes; returns its sequence number.
    pub fn submit_one(
        &self,
        opcode: u16,
        request: &[u8],
        resp_capacity: u32,
    ) -> Result<u64, DevError> {
        let mut cmd = [Command {
            opcode,
            req_len: u32::try_from(request.len()).map_err(|_| DevError {
                op: "submit",
                errno: libc::EINVAL,
            })?,
            req_ptr: request.as_ptr() as u64,
            resp_capacity,
            ..Default::default()
        }];
        self.submit(&mut cmd)?;
        Ok(cmd[0].seq)
    }

    /// Waits for `seq` (0 ms = no limit) and copies its response into `resp`.
    pub fn wait(&self, seq: u64, resp: &mut [u8], timeout_ms: u32) -> Result<Completion, DevError> {
        let mut args = WaitArgs {
            seq,
            resp_ptr: resp.as_mut_ptr() as u64,
            resp_capacity: u32::try_from(resp.len()).unwrap_or(u32::MAX),
            timeout_ms,
            ..Default::default()
        };
        ioctl!(self, "wait", wait, &mut args)?;
        Ok(Completion {
            status: args.status,
            resp_len: args.resp_len,
        })
    }

    /// Submits one command and waits for it.
    pub fn call(
        &self,
        opcode: u16,
        request: &[u8],
        resp: &mut [u8],
        timeout_ms: u32,
    ) -> Result<Completion, DevError> {
        let resp_capacity = u32::try_from(resp.len()).unwrap_or(u32::MAX);
        let seq = self.submit_one(opcode, request, resp_capacity)?;
        self.wait(seq, resp, timeout_ms)
    }
}

impl super::Transport for VgpuFile {
    fn describe(&mut self) -> Result<super::TransportInfo, DevError> {
        let i = self.info()?;
        Ok(super::TransportInfo {
            device: i.device,
            pci: Some(super::PciLocation {
                domain: i.pci_domain,
                bus: i.pci_bus,
                device: i.pci_device,
                function: i.pci_function,
            }),
            max_payload: i.max_payload.min(uapi::ioctl::MAX_PAYLOAD),
        })
    }

    fn submit(&mut self, reqs: &[super::Request<'_>]) -> Result<Vec<u64>, DevError> {
        let mut cmds = Vec::with_capacity(reqs.len());
        for r in reqs {
            cmds.push(Command {
                opcode: r.opcode,
                flags: if r.detached {
                    uapi::ioctl::command_flags::DETACHED
                } else {
                    0
                },
                req_len: u32::try_from(r.body.len()).map_err(|_| DevError {
                    op: "submit",
                    errno: libc::EINVAL,
                })?,
                req_ptr: r.body.as_ptr() as u64,
                resp_capacity: if r.detached { 0 } else { r.resp_capacity },
                ..Default::default()
            });
        }
        loop {
            match self.submit_with_flags(&mut cmds, uapi::ioctl::submit_flags::WAIT_FOR_SPACE) {
                Err(e) if e.errno == libc::EINTR => continue,
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        Ok(reqs
            .iter()
            .zip(&cmds)
            .filter(|(r, _)| !r.detached)
            .map(|(_, c)| c.seq)
            .collect())
    }

    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError> {
        loop {
            match VgpuFile::wait(self, ticket, resp, 0) {
                Err(e) if e.errno == libc::EINTR => continue,
                r => return r,
            }
        }
    }

    fn data_path(&mut self) -> Option<super::DataPath> {
        let info = self.data_info().ok()?;
        (info.max_data != 0).then_some(super::DataPath {
            max_data: info.max_data,
            min_pinned: info.min_pinned,
            pin_limit: info.pin_limit,
        })
    }

    unsafe fn submit_data(
        &mut self,
        reqs: &[super::DataRequest<'_>],
    ) -> Result<Vec<u64>, DevError> {
        let len = |n: usize| {
            u32::try_from(n).map_err(|_| DevError {
                op: "submit data",
                errno: libc::EINVAL,
            })
        };
        let mut cmds = Vec::with_capacity(reqs.len());
        for r in reqs {
            cmds.push(DataCommand {
                cmd: Command {
                    opcode: r.opcode,
                    req_len: len(r.body.len())?,
                    req_ptr: r.body.as_ptr() as u64,
                    resp_capacity: r.resp_capacity,
                    ..Default::default()
                },
                data_ptr: r.data.as_ptr() as u64,
                data_len: len(r.data.len())?,
                resp_data_len: r.resp_data_len,
                resp_data_ptr: r.resp_data as u64,
                reserved: 0,
            });
        }
        // SAFETY: the caller's contract is the driver's (see `DataCommand`).
        unsafe { self.submit_data_commands(&mut cmds)? };
        Ok(cmds.iter().map(|c| c.cmd.seq).collect())
    }

    fn pin_host(&mut self, addr: usize, len: usize) -> Result<bool, DevError> {
        self.pin(addr, len).map(|()| true)
    }

    fn unpin_host(&mut self, addr: usize, len: usize) -> Result<(), DevError> {
        self.unpin(addr, len)
    }

    unsafe fn submit_data_detached(
        &mut self,
        reqs: &[super::DataRequest<'_>],
    ) -> Result<(), DevError> {
        let mut cmds = Vec::with_capacity(reqs.len());
        for r in reqs {
            let len = |n: usize| {
                u32::try_from(n).map_err(|_| DevError {
                    op: "submit data",
                    errno: libc::EINVAL,
                })
            };
            cmds.push(DataCommand {
                cmd: Command {
                    opcode: r.opcode,
                    flags: uapi::ioctl::command_flags::DETACHED,
                    req_len: len(r.body.len())?,
                    req_ptr: r.body.as_ptr() as u64,
                    ..Default::default()
                },
                data_ptr: r.data.as_ptr() as u64,
                data_len: len(r.data.len())?,
                ..Default::default()
            });
        }
        // SAFETY: the headers are copied at submit; the data lies in
        // ranges the driver keeps pinned (the caller's contract), and a
        // detached command has no response to write.
        unsafe { self.submit_data_commands(&mut cmds) }
    }
}
