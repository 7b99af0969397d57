//! Reports: every view flakehunt prints, one module per view, each with a text and a JSON
//! rendering, all sharing the units in [`format`]. Views take finished results and never run
//! or query anything themselves.

pub mod bisect;
pub mod compare;
pub mod demo;
pub mod format;
pub mod history;
pub mod hunt;
pub mod ingest;
pub mod plan;
pub mod search;
pub mod summary;
pub mod verify;
pub mod window;

pub use format::{compact_duration, display_path, thousands};
