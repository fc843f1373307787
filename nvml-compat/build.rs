// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Gives the cdylib the soname the dynamic loader looks for.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnvidia-ml.so.1");
    println!("cargo:rerun-if-changed=build.rs");
}
