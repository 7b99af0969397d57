//! The exported C library functions, one module per family; each adds noise around the call
//! and hands it to the real function (see the crate documentation for which gets what).

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod futex;
pub mod io;
pub mod locks;
pub mod signals;
pub mod sleeps;
pub mod threads;
