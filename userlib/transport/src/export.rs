//! The panic guard every exported C function of a guest library runs
//! behind: a panic must not unwind into C, and logging is set up on the
//! first call into the library.

use std::{
    fmt::Display,
    panic::{catch_unwind, AssertUnwindSafe},
};

/// Runs the implementation of export `name`: `success` when it returns
/// `Ok`, its error's code otherwise (traced), `panicked` when it panics.
pub fn guard<E: Display + Into<u32>>(
    name: &'static str,
    success: u32,
    panicked: u32,
    f: impl FnOnce() -> Result<(), E>,
) -> u32 {
    crate::logging::init();
    let started = crate::profile::start();
    let r = catch_unwind(AssertUnwindSafe(f));
    crate::profile::finish(name, started);
    match r {
        Ok(Ok(())) => success,
        Ok(Err(e)) => {
            tracing::debug!("{name} -> {e}");
            e.into()
        }
        Err(_) => {
            tracing::error!("{name} panicked");
            panicked
        }
    }
}

#[cfg(test)]
mod tests {
    use super::guard;

    #[test]
    fn codes_and_panics() {
        assert_eq!(guard("ok", 0, 999, || Ok::<(), u32>(())), 0);
        assert_eq!(guard("err", 0, 999, || Err::<(), u32>(7)), 7);
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = guard("boom", 0, 999, || -> Result<(), u32> { panic!("boom") });
        std::panic::set_hook(quiet);
        assert_eq!(r, 999);
    }
}
