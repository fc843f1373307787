//! GPU UUID text, as NVIDIA's tools print it.

/// The bytes as lowercase hex, no separators.
pub fn hex(u: &[u8]) -> String {
    u.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GPU-` and the UUID bytes in the 8-4-4-4-12 layout, lowercase.
pub fn gpu_uuid(u: &[u8; 16]) -> String {
    format!(
        "GPU-{}-{}-{}-{}-{}",
        hex(&u[0..4]),
        hex(&u[4..6]),
        hex(&u[6..8]),
        hex(&u[8..10]),
        hex(&u[10..16])
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        let u = [
            0x6e, 0xc2, 0x32, 0x6f, 0xce, 0x05, 0x25, 0x63, 0xdd, 0xc1, 0x42, 0x9c, 0x7d, 0x67,
            0x6f, 0x89,
        ];
        assert_eq!(
            super::gpu_uuid(&u),
            "GPU-6ec2326f-ce05-2563-ddc1-429c7d676f89"
        );
        assert_eq!(super::hex(&u[..2]), "6ec2");
    }
}
