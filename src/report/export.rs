//! Reports as JSON: everything a campaign, sweep or hunt report or a history report shows, as
//! one object, for scripts.

use anyhow::{Context, Result};

use crate::store::report::{HistoryData, ReportData};

/// The report's data as one line of JSON (saved output is left out; its sizes are kept).
pub fn json(data: &ReportData) -> Result<String> {
    serde_json::to_string(data).context("could not encode the report as JSON")
}

/// A history report's data as one line of JSON.
pub fn history_json(data: &HistoryData) -> Result<String> {
    serde_json::to_string(data).context("could not encode the history report as JSON")
}
