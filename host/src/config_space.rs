//! PCI configuration space of the device (vfio region 7).
//!
//! A type 0 header with the contract's ids, one 32-bit non-prefetchable
//! memory BAR (BAR0, the register file) and an MSI capability. Every byte
//! has a write mask: writes change only the masked bits, so the BAR type
//! bits and all ids stay read-only. QEMU virtualises BARs and MSI itself but
//! forwards config writes; this keeps a coherent copy.

use uapi::pci;

/// Size of the configuration space served (conventional PCI).
pub const CONFIG_SPACE_SIZE: usize = 256;

/// Offset of the MSI capability.
pub const MSI_CAP_OFFSET: usize = 0x40;

/// Standard header offsets used here.
pub mod offsets {
    /// Vendor id (16 bits).
    pub const VENDOR_ID: usize = 0x00;
    /// Device id (16 bits).
    pub const DEVICE_ID: usize = 0x02;
    /// Command register (16 bits).
    pub const COMMAND: usize = 0x04;
    /// Status register (16 bits).
    pub const STATUS: usize = 0x06;
    /// Revision id (8 bits).
    pub const REVISION_ID: usize = 0x08;
    /// Class code (24 bits: prog-if, subclass, class).
    pub const CLASS_CODE: usize = 0x09;
    /// Header type (8 bits).
    pub const HEADER_TYPE: usize = 0x0e;
    /// BAR0 (32 bits).
    pub const BAR0: usize = 0x10;
    /// Subsystem vendor id (16 bits).
    pub const SUBSYSTEM_VENDOR_ID: usize = 0x2c;
    /// Subsystem id (16 bits).
    pub const SUBSYSTEM_ID: usize = 0x2e;
    /// Capabilities pointer (8 bits).
    pub const CAPABILITIES: usize = 0x34;
    /// Interrupt line (8 bits).
    pub const INTERRUPT_LINE: usize = 0x3c;
    /// Interrupt pin (8 bits).
    pub const INTERRUPT_PIN: usize = 0x3d;
}

/// Command register bits the guest may set: I/O, memory, bus master, INTx disable.
const COMMAND_WRITABLE: u16 = 0x0001 | 0x0002 | COMMAND_BUS_MASTER | 0x0400;
/// Command register: bus master enable.
const COMMAND_BUS_MASTER: u16 = 0x0004;
/// Status register: capabilities list present.
const STATUS_CAP_LIST: u16 = 0x0010;
/// PCI capability id of MSI.
const MSI_CAP_ID: u8 = 0x05;
/// MSI control: 64-bit address capable.
const MSI_CTRL_64BIT: u16 = 1 << 7;
/// MSI control bits the guest may set: enable (0) and multiple message enable (6:4).
const MSI_CTRL_WRITABLE: u16 = 0x0001 | 0x0070;

/// The configuration space bytes and their write masks.
#[derive(Clone, Debug)]
pub struct ConfigSpace {
    bytes: [u8; CONFIG_SPACE_SIZE],
    write_mask: [u8; CONFIG_SPACE_SIZE],
}

impl Default for ConfigSpace {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigSpace {
    /// The power-on state.
    pub fn new() -> Self {
        let mut space = Self {
            bytes: [0; CONFIG_SPACE_SIZE],
            write_mask: [0; CONFIG_SPACE_SIZE],
        };
        use offsets::*;
        space.set16(VENDOR_ID, pci::VENDOR_ID);
        space.set16(DEVICE_ID, pci::DEVICE_ID);
        space.set16(STATUS, STATUS_CAP_LIST);
        space.set8(REVISION_ID, pci::REVISION_ID);
        let class = pci::CLASS_CODE.to_le_bytes();
        space.bytes[CLASS_CODE..CLASS_CODE + 3].copy_from_slice(&class[..3]);
        space.set8(HEADER_TYPE, 0);
        space.set16(SUBSYSTEM_VENDOR_ID, pci::SUBSYSTEM_VENDOR_ID);
        space.set16(SUBSYSTEM_ID, pci::SUBSYSTEM_DEVICE_ID);
        space.set8(CAPABILITIES, MSI_CAP_OFFSET as u8);
        space.set8(INTERRUPT_PIN, 1);

        space.mask16(COMMAND, COMMAND_WRITABLE);
        // BAR0: 32-bit memory, not prefetchable (type bits 3:0 = 0); the
        // address bits below the BAR size are hard-wired to zero.
        let bar_mask = !(pci::REGS_BAR_SIZE as u32 - 1) & !0xf;
        space.mask32(BAR0, bar_mask);
        space.mask8(INTERRUPT_LINE, 0xff);

        // MSI capability: id, next = 0, control, address lo/hi, data.
        let msi = MSI_CAP_OFFSET;
        space.set8(msi, MSI_CAP_ID);
        space.set8(msi + 1, 0);
        let multiple_message_capable = pci::NUM_IRQ_VECTORS.max(1).ilog2() as u16;
        space.set16(msi + 2, MSI_CTRL_64BIT | (multiple_message_capable << 1));
        space.mask16(msi + 2, MSI_CTRL_WRITABLE);
        space.mask32(msi + 4, 0xffff_fffc);
        space.mask32(msi + 8, 0xffff_ffff);
        space.mask16(msi + 12, 0xffff);
        space
    }

    fn set8(&mut self, offset: usize, value: u8) {
        self.bytes[offset] = value;
    }
    fn set16(&mut self, offset: usize, value: u16) {
        self.bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }
    fn mask8(&mut self, offset: usize, mask: u8) {
        self.write_mask[offset] = mask;
    }
    fn mask16(&mut self, offset: usize, mask: u16) {
        self.write_mask[offset..offset + 2].copy_from_slice(&mask.to_le_bytes());
    }
    fn mask32(&mut self, offset: usize, mask: u32) {
        self.write_mask[offset..offset + 4].copy_from_slice(&mask.to_le_bytes());
    }

    /// Reads `data.len()` bytes at `offset`; bytes past the end read as zero.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        for (i, out) in data.iter_mut().enumerate() {
            *out = offset
                .checked_add(i as u64)
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| self.bytes.get(o).copied())
                .unwrap_or(0);
        }
    }

    /// Writes `data` at `offset` through the write masks; bytes past the end
    /// are dropped.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        for (i, &value) in data.iter().enumerate() {
            let Some(o) = offset
                .checked_add(i as u64)
                .and_then(|o| usize::try_from(o).ok())
            else {
                return;
            };
            let (Some(byte), Some(&mask)) = (self.bytes.get_mut(o), self.write_mask.get(o)) else {
                return;
            };
            *byte = (*byte & !mask) | (value & mask);
        }
    }

    /// Command.BME: whether the guest lets the device master the bus.
    pub fn bus_master(&self) -> bool {
        self.read16(offsets::COMMAND) & COMMAND_BUS_MASTER != 0
    }

    /// A little-endian 16-bit field, for logs and tests.
    pub fn read16(&self, offset: usize) -> u16 {
        let mut b = [0u8; 2];
        self.read(offset as u64, &mut b);
        u16::from_le_bytes(b)
    }

    /// A little-endian 32-bit field, for logs and tests.
    pub fn read32(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(offset as u64, &mut b);
        u32::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::offsets::*;
    use super::*;

    #[test]
    fn identity_and_capability_are_present() {
        let cs = ConfigSpace::new();
        assert_eq!(cs.read16(VENDOR_ID), pci::VENDOR_ID);
        assert_eq!(cs.read16(DEVICE_ID), pci::DEVICE_ID);
        assert_eq!(cs.read32(0x08) >> 8, pci::CLASS_CODE);
        assert_eq!(cs.read32(0x08) & 0xff, u32::from(pci::REVISION_ID));
        assert_eq!(cs.read16(SUBSYSTEM_ID), pci::SUBSYSTEM_DEVICE_ID);
        assert_ne!(cs.read16(STATUS) & STATUS_CAP_LIST, 0);
        let cap = usize::from(cs.read16(CAPABILITIES) as u8);
        assert_eq!(cs.read16(cap) & 0xff, u16::from(MSI_CAP_ID));
        assert_eq!(cs.read16(cap) >> 8, 0, "last capability");
        assert_ne!(cs.read16(cap + 2) & MSI_CTRL_64BIT, 0);
    }

    #[test]
    fn bar0_probes_its_size_and_keeps_type_bits() {
        let mut cs = ConfigSpace::new();
        cs.write(BAR0 as u64, &0xffff_ffffu32.to_le_bytes());
        let probed = cs.read32(BAR0);
        assert_eq!(probed & 0xf, 0, "32-bit non-prefetchable memory");
        assert_eq!(
            (!(probed & !0xf)).wrapping_add(1),
            pci::REGS_BAR_SIZE as u32
        );
        cs.write(BAR0 as u64, &0xfebf_1234u32.to_le_bytes());
        assert_eq!(
            cs.read32(BAR0),
            0xfebf_0000 & !(pci::REGS_BAR_SIZE as u32 - 1)
        );
        cs.write(0x14, &0xffff_ffffu32.to_le_bytes());
        assert_eq!(cs.read32(0x14), 0, "BAR1 unimplemented");
    }

    #[test]
    fn only_masked_bits_are_writable() {
        let mut cs = ConfigSpace::new();
        cs.write(0, &[0xff; 4]);
        assert_eq!(cs.read16(VENDOR_ID), pci::VENDOR_ID);
        cs.write(COMMAND as u64, &0xffffu16.to_le_bytes());
        assert_eq!(cs.read16(COMMAND), COMMAND_WRITABLE);
        cs.write((MSI_CAP_OFFSET + 2) as u64, &0xffffu16.to_le_bytes());
        assert_eq!(
            cs.read16(MSI_CAP_OFFSET + 2),
            MSI_CTRL_64BIT | MSI_CTRL_WRITABLE
        );
        cs.write(0xfe, &[1, 2, 3, 4]);
        let mut tail = [9u8; 4];
        cs.read(0xfe, &mut tail);
        assert_eq!(tail, [0; 4]);
    }
}
