//! Reports: every view flakehunt prints, one module per view, each with a text and a JSON
//! rendering, all sharing the units in [`format`]. Views take finished results and never run
//! or query anything themselves.

pub mod bisect;
pub mod bisect_report;
pub mod compare;
pub mod config;
pub mod demo;
pub mod export;
pub mod flakes;
pub mod format;
pub mod github;
pub mod history;
pub mod html;
pub mod hunt;
pub mod ingest;
pub mod junit;
pub mod markdown;
pub mod plan;
pub mod search;
pub mod style;
pub mod summary;
#[cfg(test)]
pub(crate) mod testing;
pub mod verify;
pub mod window;

pub use format::{compact_duration, display_path, thousands};
