//! Reports: every view flakehunt prints, one module per view, each with a text and a JSON
//! rendering, all sharing the units in [`format`]. Views take finished results and never run
//! or query anything themselves.

pub mod format;
pub mod hunt;
pub mod summary;

pub use format::{compact_duration, display_path, thousands};
