//! Fuzz harnesses of the host device model (issue 8, item 7).
//!
//! Each harness drives the real code through `vgpu-host`'s public API and
//! must never panic, hang or allocate without bound on any input. The
//! `fuzz_targets/` binaries are one line each around these functions, and
//! `make_seeds` writes the seed corpora from the same encoders.
//!
//! No input is skipped: the review's findings the targets once stepped
//! around are fixed, and their reproducers ([`known`]) are in the corpora.

pub mod cuda;
pub mod fixtures;
pub mod images;
pub mod input;
pub mod known;
pub mod rings;
pub mod seeds;
pub mod vfio;
pub mod vfio_framing;
