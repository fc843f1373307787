//! Seed inputs: valid command sequences like those of the host tests,
//! the PTX fixtures, well-formed rings and vfio messages. Each CUDA seed is
//! built by running it, so the handles and device addresses it carries
//! are the ones a fresh simulator hands out.
//! One file per target: `cuda_exec`, `rings`, `images`, `vfio`,
//! `vfio_framing`.

mod cuda_exec;
mod images;
mod rings;
mod vfio;
pub(crate) mod vfio_framing;

/// `(file name, bytes)` of every seed of `target`.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "cuda_exec" => cuda_exec::seeds(),
        "rings" => rings::seeds(),
        "images" => images::seeds(),
        "vfio" => vfio::seeds(),
        "vfio_framing" => vfio_framing::seeds(),
        _ => Vec::new(),
    }
}

/// The fuzz targets.
pub const TARGETS: &[&str] = &["cuda_exec", "rings", "images", "vfio", "vfio_framing"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_seeds() {
        for target in TARGETS {
            assert!(!seeds(target).is_empty(), "{target}");
        }
    }
}
