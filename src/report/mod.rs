//! Reports: every view flakehunt prints, one module per view, each with a text and a JSON
//! rendering, all sharing the units in [`format`]. Views take finished results and never run
//! or query anything themselves.

pub mod format;
pub mod summary;
pub mod window;

pub use format::{compact_duration, display_path, thousands};
