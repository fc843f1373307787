//! cuInit, the driver version and device queries.

use std::ffi::{c_char, c_int, c_uint, c_void};

use uapi::{
    cmd::field_str,
    cuda::{cmds, result, DeviceRequest},
};
use vgpu_transport::device;

use super::{client::Client, lock, with_state, CuResult};
use crate::driver::abi::{CuDevprop, In, Out, OutBuf};
use crate::transport;

pub(crate) use vgpu_transport::device::attr;

/// Driver version reported before any device is reachable.
pub(crate) const FALLBACK_DRIVER_VERSION: c_int = 13000;

/// DEVICE_GET_ATTRIBUTES: the attribute table, with the guest's PCI
/// location where the transport knows it.
pub(crate) fn fetch_attributes(c: &mut Client) -> CuResult<Vec<i32>> {
    let (_, tail) = c.call_cmd::<cmds::DeviceGetAttributes>(
        &DeviceRequest::default(),
        &[],
        device::ATTRIBUTE_TABLE_BYTES,
    )?;
    let mut t = device::attribute_table(&tail);
    if let Some(p) = c.info().pci {
        t[attr::PCI_BUS_ID] = p.bus.into();
        t[attr::PCI_DEVICE_ID] = p.device.into();
        t[attr::PCI_DOMAIN_ID] = p.domain as i32;
    }
    Ok(t)
}

/// Opens the transport once per process (also used by cuDriverGetVersion).
fn ensure_open(s: &mut super::State) -> CuResult {
    if s.client.is_some() {
        return Ok(());
    }
    super::register_atfork();
    // A node the user may not open is CUDA_ERROR_NO_DEVICE, as NVIDIA's
    // driver answers for /dev/nvidia*; the log says why and what to do.
    let (t, ep) = transport::open().map_err(|e| {
        if e.errno == libc::EBUSY {
            return refused(&transport::endpoint());
        }
        match transport::endpoint() {
            transport::Endpoint::Device(node) if e.op == "open" => tracing::warn!(
                "cuInit: {}; CUDA_ERROR_NO_DEVICE",
                transport::access::explain_open_error(&node, e.errno)
            ),
            ep => tracing::warn!("cuInit: no vgpu device ({ep:?}: {e}); CUDA_ERROR_NO_DEVICE"),
        }
        result::NO_DEVICE
    })?;
    let c = Client::new(t).map_err(|e| {
        if e.errno == libc::EBUSY {
            return refused(&ep);
        }
        tracing::warn!("cuInit: {ep:?} did not describe itself: {e}; CUDA_ERROR_NO_DEVICE");
        result::NO_DEVICE
    })?;
    tracing::debug!(
        "vgpu: {ep:?}: {}",
        field_str(&c.info().device.name).unwrap_or("?")
    );
    s.client = Some(c);
    Ok(())
}

/// The device is there but takes no more clients (vgpu-host's `clients`
/// quota: `EBUSY` from the driver's `open`, or the socket's `BUSY`). NVIDIA's
/// driver answers a GPU that takes no more contexts (exclusive-process
/// mode, or every context slot in use) with `CUDA_ERROR_DEVICE_UNAVAILABLE`;
/// `OUT_OF_MEMORY` would send the user looking for memory.
fn refused(ep: &impl std::fmt::Debug) -> u32 {
    tracing::warn!(
        "cuInit: {ep:?} serves as many clients as it is configured to; \
         CUDA_ERROR_DEVICE_UNAVAILABLE"
    );
    result::DEVICE_UNAVAILABLE
}

pub(crate) fn init(flags: c_uint) -> CuResult {
    super::check_alive()?;
    if flags != 0 {
        return Err(result::INVALID_VALUE);
    }
    let mut s = lock();
    ensure_open(&mut s)?;
    if !s.initialized {
        let uuid = s.client()?.info().device.uuid;
        let var = std::env::var_os("CUDA_VISIBLE_DEVICES");
        match visibility(var.as_ref().map(|v| v.to_string_lossy()).as_deref(), &uuid) {
            Visibility::Visible => {}
            Visibility::Hidden => {
                tracing::debug!("cuInit: CUDA_VISIBLE_DEVICES={var:?} hides the device");
                return Err(result::NO_DEVICE);
            }
            Visibility::Duplicate => return Err(result::INVALID_DEVICE),
        }
    }
    s.initialized = true;
    super::on_first_init();
    Ok(())
}

/// What `CUDA_VISIBLE_DEVICES` leaves of our one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    Visible,
    /// No device visible: cuInit is `CUDA_ERROR_NO_DEVICE`.
    Hidden,
    /// An index listed twice: cuInit is `CUDA_ERROR_INVALID_DEVICE`.
    Duplicate,
}

/// One entry of the list that names our device: by index 0, or by UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Index(u64),
    Uuid,
}

/// Parses an entry as NVIDIA's driver does (measured on R580, two H200s):
/// - `GPU-` (exactly; no blanks before it, not `gpu-`) and then the UUID's
///   hex digits, case-insensitive, dashes anywhere or nowhere; any prefix
///   of one or more digits names the GPU, and the text after the digits is
///   ignored (`GPU-6`, `GPU-6ec2326fce05…`, `…f89x` all match);
/// - otherwise a number as `strtol` reads it: leading blanks, a sign, the
///   digits, trailing junk ignored (" 0", "00", "+0", "0x0", "0abc" are 0);
///   no digits or a negative number names nothing.
fn entry(text: &str, ours_hex: &str) -> Option<Entry> {
    if let Some(rest) = text.strip_prefix("GPU-") {
        let digits: String = rest
            .chars()
            .filter(|&c| c != '-')
            .take_while(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        return (!digits.is_empty() && ours_hex.starts_with(&digits)).then_some(Entry::Uuid);
    }
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: u64 = digits[..end].parse().ok()?;
    (!negative || n == 0).then_some(Entry::Index(n))
}

/// NVIDIA's rules (CUDA programming guide, "CUDA_VISIBLE_DEVICES", and
/// measured): unset shows every device; otherwise devices are listed in
/// order, and the list ends at the first entry that names no device. Our
/// device is visible iff the first entry names it ("", "-1", "1" hide it).
/// Naming it again in the same form ("0,0", "0,+0", "GPU-x,GPU-x") makes
/// cuInit fail; in the other form ("0,GPU-x") it is ignored.
pub(crate) fn visibility(var: Option<&str>, uuid: &[u8; 16]) -> Visibility {
    let Some(list) = var else {
        return Visibility::Visible;
    };
    let ours = vgpu_transport::uuid::hex(uuid);
    let mut entries = list.split(',').map(|e| entry(e, &ours));
    let first = match entries.next().flatten() {
        Some(e @ (Entry::Index(0) | Entry::Uuid)) => e,
        _ => return Visibility::Hidden,
    };
    match entries.next().flatten() {
        Some(second) if second == first => Visibility::Duplicate,
        _ => Visibility::Visible,
    }
}

pub(crate) fn driver_get_version(v: Out<'_, c_int>) -> CuResult {
    let v = v.get()?;
    let mut s = lock();
    let ver = match ensure_open(&mut s) {
        Ok(()) => match s.client()?.info().device.cuda_driver_version {
            0 => FALLBACK_DRIVER_VERSION,
            n => n as c_int,
        },
        Err(_) => FALLBACK_DRIVER_VERSION,
    };
    v.write(ver);
    Ok(())
}

/// `INVALID_DEVICE` unless `dev` is our device's ordinal.
pub(crate) fn check_device(dev: c_int) -> CuResult {
    if dev == 0 {
        Ok(())
    } else {
        Err(result::INVALID_DEVICE)
    }
}

pub(crate) fn device_get(dev: Out<'_, c_int>, ordinal: c_int) -> CuResult {
    with_state(|_| {
        let dev = dev.get()?;
        check_device(ordinal)?;
        dev.write(0);
        Ok(())
    })
}

pub(crate) fn device_get_count(count: Out<'_, c_int>) -> CuResult {
    with_state(|_| count.write(1))
}

/// Copies `text` into a C buffer of `len` bytes, NUL-terminated, truncated.
fn put_str(buf: OutBuf<'_, c_char>, len: c_int, text: &str) -> CuResult {
    let cap = usize::try_from(len).map_err(|_| result::INVALID_VALUE)?;
    buf.put_str_cut(cap, text).ok_or(result::INVALID_VALUE)
}

pub(crate) fn device_get_name(name: OutBuf<'_, c_char>, len: c_int, dev: c_int) -> CuResult {
    with_state(|s| {
        check_device(dev)?;
        let info = s.client()?.info().device;
        put_str(name, len, field_str(&info.name).unwrap_or("vgpu"))
    })
}

pub(crate) fn device_get_uuid(uuid: Out<'_, [u8; 16]>, dev: c_int) -> CuResult {
    with_state(|s| {
        let uuid = uuid.get()?;
        check_device(dev)?;
        uuid.write(s.client()?.info().device.uuid);
        Ok(())
    })
}

pub(crate) fn device_total_mem(bytes: Out<'_, usize>, dev: c_int) -> CuResult {
    with_state(|s| {
        let bytes = bytes.get()?;
        check_device(dev)?;
        bytes.write(s.client()?.info().device.total_memory as usize);
        Ok(())
    })
}

pub(crate) fn device_get_attribute(pi: Out<'_, c_int>, attrib: c_int, dev: c_int) -> CuResult {
    with_state(|s| {
        let pi = pi.get()?;
        check_device(dev)?;
        let t = s.attributes()?;
        let i = usize::try_from(attrib).map_err(|_| result::INVALID_VALUE)?;
        // Attributes past the table (newer than the contract) are not known.
        if i == 0 || i >= t.len() {
            return Err(result::INVALID_VALUE);
        }
        pi.write(t[i]);
        Ok(())
    })
}

/// `domain:bus:device.function` as CUDA prints it.
fn bus_id_text(s: &mut super::State) -> CuResult<String> {
    let t = s.attributes()?;
    let (dom, bus, dev) = (
        t[attr::PCI_DOMAIN_ID],
        t[attr::PCI_BUS_ID],
        t[attr::PCI_DEVICE_ID],
    );
    Ok(format!("{dom:04x}:{bus:02x}:{dev:02x}.0"))
}

pub(crate) fn device_get_pci_bus_id(bus: OutBuf<'_, c_char>, len: c_int, dev: c_int) -> CuResult {
    with_state(|s| {
        check_device(dev)?;
        let text = bus_id_text(s)?;
        put_str(bus, len, &text)
    })
}

pub(crate) fn device_get_by_pci_bus_id(dev: Out<'_, c_int>, bus: In<'_, c_char>) -> CuResult {
    with_state(|s| {
        let dev = dev.get()?;
        let bus = bus.c_str()?;
        let want = bus.to_string_lossy().to_ascii_lowercase();
        let ours = bus_id_text(s)?;
        // Accept "0000:01:00.0", "00000000:01:00.0" and "01:00.0".
        let norm = |t: &str| -> Option<(u32, u32, u32)> {
            let (rest, _func) = t.rsplit_once('.')?;
            device::parse_domain_bus_device(rest)
        };
        match (norm(&want), norm(&ours)) {
            (Some(a), Some(b)) if a == b => {
                dev.write(0);
                Ok(())
            }
            _ => Err(result::INVALID_DEVICE),
        }
    })
}

pub(crate) fn device_compute_capability(
    major: Out<'_, c_int>,
    minor: Out<'_, c_int>,
    dev: c_int,
) -> CuResult {
    with_state(|s| {
        let (major, minor) = (major.get()?, minor.get()?);
        check_device(dev)?;
        let i = s.client()?.info().device;
        major.write(i.compute_major as c_int);
        minor.write(i.compute_minor as c_int);
        Ok(())
    })
}

/// One device is never its own peer: 0, as NVIDIA's driver answers.
pub(crate) fn device_can_access_peer(can: Out<'_, c_int>, dev: c_int, peer: c_int) -> CuResult {
    with_state(|_| {
        let can = can.get()?;
        check_device(dev)?;
        check_device(peer)?;
        can.write(0);
        Ok(())
    })
}

/// There is no link between two devices here: `INVALID_DEVICE` for every
/// pair, the same device included (documented, and measured before the
/// attribute is even looked at).
pub(crate) fn device_get_p2p_attribute(
    value: Out<'_, c_int>,
    attrib: c_int,
    src: c_int,
    dst: c_int,
) -> CuResult {
    with_state(|_| {
        check_device(src)?;
        check_device(dst)?;
        if src == dst {
            return Err(result::INVALID_DEVICE);
        }
        tracing::debug!("cuDeviceGetP2PAttribute({attrib}) with {value:?}: unreachable");
        Err(result::INVALID_DEVICE)
    })
}

pub(crate) unsafe fn device_get_properties(prop: Out<'_, c_void>, dev: c_int) -> CuResult {
    with_state(|s| {
        // SAFETY: `prop` points to a `CUdevprop` (the API's contract).
        let prop = unsafe { prop.cast::<CuDevprop>() }.get()?;
        check_device(dev)?;
        let t = s.attributes()?;
        use attr::*;
        prop.write(CuDevprop {
            max_threads_per_block: t[MAX_THREADS_PER_BLOCK],
            max_threads_dim: [
                t[MAX_BLOCK_DIM_X],
                t[MAX_BLOCK_DIM_X + 1],
                t[MAX_BLOCK_DIM_X + 2],
            ],
            max_grid_size: [
                t[MAX_GRID_DIM_X],
                t[MAX_GRID_DIM_X + 1],
                t[MAX_GRID_DIM_X + 2],
            ],
            shared_mem_per_block: t[MAX_SHARED_MEMORY_PER_BLOCK],
            total_constant_memory: t[TOTAL_CONSTANT_MEMORY],
            simd_width: t[WARP_SIZE],
            mem_pitch: t[MAX_PITCH],
            regs_per_block: t[MAX_REGISTERS_PER_BLOCK],
            clock_rate: t[CLOCK_RATE],
            texture_align: t[TEXTURE_ALIGNMENT],
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use uapi::cuda::ATTRIBUTE_COUNT;

    use super::*;
    use crate::driver::testing::session;

    #[test]
    fn attributes_are_fetched_once_and_pci_comes_from_the_guest() {
        let sess = session(1 << 20);
        let mut resp = vec![0u8; 8];
        for i in 0..ATTRIBUTE_COUNT as i32 {
            resp.extend_from_slice(&(i * 10).to_le_bytes());
        }
        sess.respond(resp);
        let mut v = 0;
        // SAFETY: every pointer is to a local; the strings read back are
        // NUL-terminated by the calls.
        unsafe {
            device_get_attribute((&mut v).into(), attr::MULTIPROCESSOR_COUNT as c_int, 0).unwrap();
            assert_eq!(v, 160);
            device_get_attribute((&mut v).into(), attr::PCI_DEVICE_ID as c_int, 0).unwrap();
            assert_eq!(v, 5);
            assert_eq!(
                device_get_attribute((&mut v).into(), 1, 1),
                Err(result::INVALID_DEVICE)
            );
            assert_eq!(
                device_get_attribute(Out::null(), 1, 0),
                Err(result::INVALID_VALUE)
            );
            let mut buf = [0 as c_char; 32];
            device_get_pci_bus_id((&mut buf[..]).into(), 32, 0).unwrap();
            assert_eq!(
                CStr::from_ptr(buf.as_ptr()).to_str().unwrap(),
                "0000:00:05.0"
            );
            let mut d = -1;
            device_get_by_pci_bus_id((&mut d).into(), c"00000000:00:05.0".into()).unwrap();
            assert_eq!(d, 0);
            let mut name = [0 as c_char; 5];
            device_get_name((&mut name[..]).into(), 5, 0).unwrap();
            assert_eq!(CStr::from_ptr(name.as_ptr()).to_str().unwrap(), "Fake");
        }
        assert_eq!(sess.script.lock().unwrap().sent.len(), 1);
    }

    #[test]
    fn cuda_visible_devices_as_nvidia_reads_it() {
        use Visibility::*;
        // GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89, one of the H200s measured.
        let u = [
            0x6e, 0xc2, 0x32, 0x6f, 0xce, 0x05, 0x25, 0x63, 0xdd, 0xc1, 0x42, 0x9c, 0x7d, 0x67,
            0x6f, 0x89,
        ];
        let full = "GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89";
        let twice = format!("{full},{full}");
        // Each case as NVIDIA's R580 driver answered it with one GPU.
        for (var, want) in [
            (None, Visible),
            (Some(""), Hidden),
            (Some("-1"), Hidden),
            (Some("0"), Visible),
            (Some("0,1"), Visible),
            (Some("1"), Hidden),
            (Some("1,0"), Hidden),
            (Some("0,0"), Duplicate),
            (Some("0, 0"), Duplicate),
            (Some("0,00"), Duplicate),
            (Some("0,+0"), Duplicate),
            (Some("0,-1,1"), Visible),
            (Some(" 0"), Visible),
            (Some("0 "), Visible),
            (Some("00"), Visible),
            (Some("+0"), Visible),
            (Some("0x0"), Visible),
            (Some("0abc"), Visible),
            (Some("foo"), Hidden),
            (Some(full), Visible),
            (Some("GPU-6"), Visible),
            (Some("GPU-6ec2326f"), Visible),
            (Some("GPU-6ec2326f-"), Visible),
            (Some("GPU-6ec2326f-ce05-2563-ddc1-429c7d676f8"), Visible),
            (Some("GPU-6EC2326F-CE05-2563-DDC1-429C7D676F89"), Visible),
            (Some("GPU-6ec2326fce052563ddc1429c7d676f89"), Visible),
            (Some("GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89x"), Visible),
            (Some("GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89 "), Visible),
            (Some(" GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89"), Hidden),
            (Some("gpu-6ec2326f-ce05-2563-ddc1-429c7d676f89"), Hidden),
            (Some("6ec2326f-ce05-2563-ddc1-429c7d676f89"), Hidden),
            (Some("GPU-deadbeef"), Hidden),
            (Some("GPU-"), Hidden),
            (Some("MIG-abc"), Hidden),
            (Some(twice.as_str()), Duplicate),
            (Some("GPU-6ec2326f,0"), Visible),
            (Some("0,GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89"), Visible),
            (Some("0,GPU-deadbeef"), Visible),
        ] {
            assert_eq!(visibility(var, &u), want, "{var:?}");
        }
    }

    #[test]
    fn a_device_is_not_its_own_peer() {
        let _s = session(1 << 20);
        let mut can = 7;
        {
            device_can_access_peer((&mut can).into(), 0, 0).unwrap();
            assert_eq!(can, 0);
            assert_eq!(
                device_can_access_peer((&mut can).into(), 0, 1),
                Err(result::INVALID_DEVICE)
            );
            assert_eq!(
                device_can_access_peer(Out::null(), 0, 0),
                Err(result::INVALID_VALUE)
            );
            for a in 0..=6 {
                assert_eq!(
                    device_get_p2p_attribute((&mut can).into(), a, 0, 0),
                    Err(result::INVALID_DEVICE)
                );
            }
            assert_eq!(
                device_get_p2p_attribute((&mut can).into(), 1, 0, 1),
                Err(result::INVALID_DEVICE)
            );
        }
    }
}
