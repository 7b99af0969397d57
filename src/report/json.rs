//! The `--json` rendering of a campaign summary: one JSON object (schema in the README).

use anyhow::{Context, Result};

use crate::analysis::summary::Summary;

/// The summary as one line of JSON.
pub fn render(summary: &Summary) -> Result<String> {
    serde_json::to_string(summary).context("could not encode the summary as JSON")
}
