//! Typed C arguments of the exported functions, ZLUDA-style: each export
//! of the one declaration list converts its raw arguments once
//! ([`FromC`]), and the area functions behind it are safe Rust over these
//! types. A NULL pointer is found where the area function asks (so the
//! order of checks, and with it the error code, is the API's), and becomes
//! the library's own code ([`Abi::NULL`]: `CUDA_ERROR_INVALID_VALUE`,
//! `NVML_ERROR_INVALID_ARGUMENT`).
//!
//! The one unsafe step is [`FromC::from_c`], in the exports: the C caller
//! promises what the API documents for each argument (NULL, or valid for
//! the access its type names, for the duration of the call).

use std::{
    ffi::{c_char, c_void, CStr},
    fmt,
    marker::PhantomData,
    mem::MaybeUninit,
};

/// A library's ABI, as the argument types need it: the error a NULL
/// pointer argument is.
pub trait Abi {
    /// The library's error type.
    type Error;
    /// What a NULL argument is.
    const NULL: Self::Error;
}

/// Converts a raw C argument into the type the area function takes.
pub trait FromC<Raw>: Sized {
    /// # Safety
    /// `raw` is what the C API promises for this argument: a plain value,
    /// or a pointer that is NULL or valid for the access `Self` names, for
    /// the lifetime `Self` carries (the call).
    unsafe fn from_c(raw: Raw) -> Self;
}

/// Plain values (integers, handles, flags) pass unchanged.
impl<T> FromC<T> for T {
    unsafe fn from_c(raw: T) -> T {
        raw
    }
}

macro_rules! pointer_arg {
    ($(#[$doc:meta])* $name:ident, $raw:ty, $target:ty) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name<'a, T, A> {
            ptr: $raw,
            _life: PhantomData<(&'a mut $target, fn() -> A)>,
        }

        impl<'a, T, A> $name<'a, T, A> {
            /// # Safety
            /// `ptr` is NULL or valid as the type says, for `'a`.
            pub unsafe fn new(ptr: $raw) -> Self {
                Self { ptr, _life: PhantomData }
            }

            /// A NULL argument (always valid).
            pub fn null() -> Self {
                Self { ptr: std::ptr::null_mut::<T>() as $raw, _life: PhantomData }
            }

            /// Whether the caller passed NULL.
            pub fn is_null(&self) -> bool {
                self.ptr.is_null()
            }

            /// The raw pointer (to hand on, or to compare).
            pub fn as_ptr(&self) -> $raw {
                self.ptr
            }
        }

        impl<'a, T, A: Abi> $name<'a, T, A> {
            /// `A::NULL` when the caller passed NULL.
            pub fn check(&self) -> Result<(), A::Error> {
                if self.ptr.is_null() {
                    Err(A::NULL)
                } else {
                    Ok(())
                }
            }
        }

        impl<T, A> FromC<$raw> for $name<'_, T, A> {
            unsafe fn from_c(raw: $raw) -> Self {
                // SAFETY: the caller's contract is this constructor's.
                unsafe { Self::new(raw) }
            }
        }

        impl<T, A> fmt::Debug for $name<'_, T, A> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:p})", stringify!($name), self.ptr)
            }
        }
    };
}

pointer_arg!(
    /// An out-pointer (`T *out`): NULL or valid for one write of `T`.
    Out, *mut T, T
);
pointer_arg!(
    /// A pointer the function reads and writes (`T *inout`): NULL or valid
    /// for reads and writes of one initialised `T`.
    InOut, *mut T, T
);
pointer_arg!(
    /// An input pointer (`const T *in`): NULL or valid for reads of one `T`.
    In, *const T, T
);
pointer_arg!(
    /// A buffer the function fills (`T *buf, size_t n`): NULL or valid for
    /// writes of as many `T` as the length argument of the same call says
    /// (bytes for `void`).
    OutBuf, *mut T, [T]
);
pointer_arg!(
    /// A buffer the function reads (`const T *buf, size_t n`): NULL or
    /// valid for reads of as many `T` as the length argument of the same
    /// call says (bytes for `void`).
    InBuf, *const T, [T]
);

impl<'a, T, A: Abi> Out<'a, T, A> {
    /// The place to write, once checked for NULL.
    pub fn get(self) -> Result<&'a mut MaybeUninit<T>, A::Error> {
        self.check()?;
        // SAFETY: non-NULL, and valid for a write of `T` for `'a`
        // (`new`'s contract); `MaybeUninit` asks nothing of the bytes.
        Ok(unsafe { &mut *self.ptr.cast::<MaybeUninit<T>>() })
    }

    /// Writes `v` unless the caller passed NULL (an output the caller may
    /// leave out).
    pub fn write_optional(self, v: T) {
        if !self.is_null() {
            // Non-NULL: `get` cannot fail.
            let _ = self.write(v);
        }
    }

    /// Writes `v`; `A::NULL` when the caller passed NULL.
    pub fn write(self, v: T) -> Result<(), A::Error> {
        self.get()?.write(v);
        Ok(())
    }
}

impl<'a, T, A> Out<'a, T, A> {
    /// The same pointer as an out-pointer of `U` (a `void *` argument
    /// whose type the API gives elsewhere: a struct, an attribute's type).
    ///
    /// # Safety
    /// The pointer is NULL or valid for one write of `U` for `'a`.
    pub unsafe fn cast<U>(self) -> Out<'a, U, A> {
        // SAFETY: the caller's contract.
        unsafe { Out::new(self.ptr.cast()) }
    }
}

impl<'a, T, A> From<&'a mut T> for Out<'a, T, A> {
    fn from(r: &'a mut T) -> Self {
        // SAFETY: a reference is valid for writes for `'a`.
        unsafe { Self::new(r) }
    }
}

impl<'a, T, A: Abi> InOut<'a, T, A> {
    /// The value, once checked for NULL.
    pub fn get(self) -> Result<&'a mut T, A::Error> {
        self.check()?;
        // SAFETY: non-NULL, and valid for reads and writes of an
        // initialised `T` for `'a` (`new`'s contract).
        Ok(unsafe { &mut *self.ptr })
    }
}

impl<'a, T, A> From<&'a mut T> for InOut<'a, T, A> {
    fn from(r: &'a mut T) -> Self {
        // SAFETY: a reference is valid for reads and writes for `'a`.
        unsafe { Self::new(r) }
    }
}

// Input pointers may be copied: they only ever give shared access.
impl<T, A> Clone for In<'_, T, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, A> Copy for In<'_, T, A> {}
impl<T, A> Clone for InBuf<'_, T, A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, A> Copy for InBuf<'_, T, A> {}

impl<'a, T, A: Abi> In<'a, T, A> {
    /// The value, once checked for NULL.
    pub fn get(self) -> Result<&'a T, A::Error> {
        self.check()?;
        // SAFETY: non-NULL, and valid for reads of `T` for `'a`.
        Ok(unsafe { &*self.ptr })
    }
}

impl<'a, T, A> From<&'a T> for In<'a, T, A> {
    fn from(r: &'a T) -> Self {
        // SAFETY: a reference is valid for reads for `'a`.
        unsafe { Self::new(r) }
    }
}

impl<'a, A: Abi> In<'a, c_char, A> {
    /// A C string argument, once checked for NULL.
    pub fn c_str(self) -> Result<&'a CStr, A::Error> {
        self.check()?;
        // SAFETY: a C string argument is NUL-terminated and lives for
        // `'a` (`new`'s contract for `const char *`).
        Ok(unsafe { CStr::from_ptr(self.ptr) })
    }
}

impl<'a, A> From<&'a CStr> for In<'a, c_char, A> {
    fn from(s: &'a CStr) -> Self {
        // SAFETY: a `CStr` is a NUL-terminated string valid for `'a`.
        unsafe { Self::new(s.as_ptr()) }
    }
}

impl<'a, T, A: Abi> OutBuf<'a, T, A> {
    /// The `n` elements to fill; `n` is the call's length argument. An
    /// empty buffer may be NULL.
    pub fn slice(self, n: usize) -> Result<&'a mut [MaybeUninit<T>], A::Error> {
        if n == 0 {
            return Ok(&mut []);
        }
        self.check()?;
        // SAFETY: non-NULL, valid for writes of `n` elements (the length
        // of the same call, `new`'s contract).
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr.cast(), n) })
    }
}

impl<'a, A: Abi> OutBuf<'a, c_void, A> {
    /// The `n` bytes to fill (the call's byte count); an empty buffer may
    /// be NULL.
    pub fn bytes(self, n: usize) -> Result<&'a mut [u8], A::Error> {
        if n == 0 {
            return Ok(&mut []);
        }
        self.check()?;
        // SAFETY: non-NULL, valid for writes of `n` bytes; the caller's
        // memory is initialised as far as Rust is concerned (C bytes).
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr.cast(), n) })
    }
}

impl<'a, A> OutBuf<'a, c_char, A> {
    /// Copies `text` and a NUL into the buffer of `cap` bytes, cut to fit
    /// (as CUDA's `cuDeviceGetName`); NULL or `cap` 0 is `None`.
    pub fn put_str_cut(self, cap: usize, text: &str) -> Option<()> {
        // SAFETY: `ptr` is valid for `cap` bytes (`new`'s contract, with
        // `cap` the call's length).
        unsafe { crate::ptr::put_str_cut(self.ptr, cap, text) }
    }

    /// Copies `text` and a NUL into the buffer of `cap` bytes when they
    /// fit (as NVML's string queries).
    pub fn put_str_whole(self, cap: usize, text: &str) -> Result<(), crate::ptr::StrError> {
        // SAFETY: as for `put_str_cut`.
        unsafe { crate::ptr::put_str_whole(self.ptr, cap, text) }
    }
}

impl<'a, T, A> From<&'a mut [T]> for OutBuf<'a, T, A> {
    fn from(s: &'a mut [T]) -> Self {
        // SAFETY: valid for writes of `s.len()` elements for `'a`.
        unsafe { Self::new(s.as_mut_ptr()) }
    }
}

impl<'a, T, A: Abi> InBuf<'a, T, A> {
    /// The `n` elements (the call's length argument); an empty buffer may
    /// be NULL.
    pub fn slice(self, n: usize) -> Result<&'a [T], A::Error> {
        if n == 0 {
            return Ok(&[]);
        }
        self.check()?;
        // SAFETY: non-NULL, valid for reads of `n` elements for `'a`.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr, n) })
    }
}

impl<'a, A: Abi> InBuf<'a, c_void, A> {
    /// The `n` bytes (the call's byte count); an empty buffer may be NULL.
    pub fn bytes(self, n: usize) -> Result<&'a [u8], A::Error> {
        if n == 0 {
            return Ok(&[]);
        }
        self.check()?;
        // SAFETY: non-NULL, valid for reads of `n` bytes for `'a`.
        Ok(unsafe { std::slice::from_raw_parts(self.ptr.cast(), n) })
    }
}

impl<'a, T, A> From<&'a [T]> for InBuf<'a, T, A> {
    fn from(s: &'a [T]) -> Self {
        // SAFETY: valid for reads of `s.len()` elements for `'a`.
        unsafe { Self::new(s.as_ptr()) }
    }
}

impl<'a, A> From<&'a [u8]> for InBuf<'a, c_void, A> {
    fn from(s: &'a [u8]) -> Self {
        // SAFETY: valid for reads of `s.len()` bytes for `'a`.
        unsafe { Self::new(s.as_ptr().cast()) }
    }
}

impl<'a, A> From<&'a mut [u8]> for OutBuf<'a, c_void, A> {
    fn from(s: &'a mut [u8]) -> Self {
        // SAFETY: valid for writes of `s.len()` bytes for `'a`.
        unsafe { Self::new(s.as_mut_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T;
    impl Abi for T {
        type Error = u32;
        const NULL: u32 = 7;
    }

    #[test]
    fn null_is_the_abis_error_where_it_is_asked() {
        let mut v = 0u32;
        assert_eq!(Out::<u32, T>::from(&mut v).write(5), Ok(()));
        assert_eq!(v, 5);
        // SAFETY: NULL is allowed.
        let null = unsafe { Out::<u32, T>::from_c(std::ptr::null_mut()) };
        assert!(null.is_null());
        assert_eq!(null.write(1), Err(7));
        // SAFETY: NULL is allowed.
        let s = unsafe { In::<c_char, T>::from_c(std::ptr::null()) };
        assert_eq!(s.c_str(), Err(7));
        assert_eq!(In::<c_char, T>::from(c"ok").c_str(), Ok(c"ok"));
        // SAFETY: NULL is allowed.
        let b = unsafe { InBuf::<c_void, T>::from_c(std::ptr::null()) };
        assert_eq!(b.bytes(0), Ok(&[][..]));
        // SAFETY: NULL is allowed.
        let b = unsafe { InBuf::<c_void, T>::from_c(std::ptr::null()) };
        assert_eq!(b.bytes(1), Err(7));
        let mut buf = [1 as c_char; 4];
        let out = OutBuf::<c_char, T>::from(&mut buf[..]);
        assert_eq!(out.put_str_cut(4, "vgpu!"), Some(()));
        assert_eq!(
            buf[..4],
            [b'v' as c_char, b'g' as c_char, b'p' as c_char, 0]
        );
    }

    #[test]
    fn plain_values_pass_through() {
        // SAFETY: a plain value.
        let v: u64 = unsafe { FromC::from_c(9u64) };
        assert_eq!(v, 9);
    }
}
