//! The exported C library functions, one module per family; each adds noise around the call
//! and hands it to the real function (see the crate documentation for which gets what).

pub mod io;
pub mod locks;
pub mod signals;
pub mod threads;
