//! PTX modules of the test suites, for seeds and for the CUDA target's
//! module loads. Every kernel here ends on its own for any parameters
//! (no loop bounded by a parameter), so launching them with fuzzed
//! arguments stays fast.

/// `(name, PTX text)`.
pub const MODULES: &[(&str, &str)] = &[
    ("suite", include_str!("../../tests/kernels/suite.ptx")),
    (
        "vecadd",
        include_str!("../../host/tests/kernels/vecadd.ptx"),
    ),
    ("saxpy", include_str!("../../host/tests/kernels/saxpy.ptx")),
    ("shmem", include_str!("../../host/tests/kernels/shmem.ptx")),
    (
        "index3d",
        include_str!("../../host/tests/kernels/index3d.ptx"),
    ),
    (
        "atomics",
        include_str!("../../host/tests/kernels/atomics.ptx"),
    ),
    (
        "globals",
        include_str!("../../host/tests/kernels/globals.ptx"),
    ),
    ("calls", include_str!("../../host/tests/kernels/calls.ptx")),
    ("edges", include_str!("../../host/tests/kernels/edges.ptx")),
    (
        "exotic",
        include_str!("../../host/tests/kernels/exotic.ptx"),
    ),
];

/// Modules only the image target sees (they may loop for long: the image
/// target launches under a short watchdog).
pub const IMAGE_ONLY: &[(&str, &str)] = &[
    (
        "isolation",
        include_str!("../../tests/kernels/isolation.ptx"),
    ),
    (
        "reduce",
        include_str!("../../host/tests/kernels/reduce.ptx"),
    ),
    (
        "histogram",
        include_str!("../../host/tests/kernels/histogram.ptx"),
    ),
];
