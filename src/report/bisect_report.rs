//! Words shared by every format's report of a recorded bisection: where it stopped, said in
//! one line, and the commits worth listing.

use crate::store::report::bisect::{BisectCommit, BisectData};
use crate::text::escape_line;

/// Commits listed besides the probed ones and the good and bad commit: those whose posterior
/// is at least this.
pub const POSTERIOR_SHOWN: f64 = 0.001;

/// A commit hash as shown.
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A probability as a percentage with one decimal, never rounded up to 100%.
pub fn percent(p: f64) -> String {
    let shown = (p.clamp(0.0, 1.0) * 1000.0).floor() / 10.0;
    format!("{shown:.1}%")
}

/// A commit as `hash subject`, one safe line.
pub fn commit_line(commit: &BisectCommit) -> String {
    format!(
        "{} {}",
        short(&commit.hash),
        escape_line(commit.subject.as_bytes(), 80)
    )
}

/// How outside text (a commit's subject) is quoted in a format: as is where the writer escapes
/// it (HTML, XML, annotations), as a code span in Markdown.
pub type Quote<'a> = &'a dyn Fn(&str) -> String;

/// The commits a report lists: probed, leading, or the ends of the range.
pub fn listed(data: &BisectData) -> Vec<(usize, &BisectCommit)> {
    let last = data.commits.len().saturating_sub(1);
    data.commits
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            *i == 0
                || *i == last
                || c.runs > 0
                || c.untestable.is_some()
                || c.posterior >= POSTERIOR_SHOWN
        })
        .collect()
}

/// Where the search stopped, in one line.
pub fn outcome(data: &BisectData) -> String {
    outcome_quoted(data, &|text| escape_line(text.as_bytes(), 80))
}

/// [`outcome`] with commit subjects quoted by `quote`.
pub fn outcome_quoted(data: &BisectData, quote: Quote<'_>) -> String {
    let commit_line =
        |commit: &BisectCommit| format!("{} {}", short(&commit.hash), quote(&commit.subject));
    let at = |ix: Option<usize>| ix.and_then(|i| data.commits.get(i));
    let decision = data.decision.clone().unwrap_or_default();
    let confidence = data
        .confidence
        .map(|c| format!(" (confidence asked: {})", percent(c)))
        .unwrap_or_default();
    match (data.status.as_str(), decision.kind.as_str()) {
        ("culprit", _) | (_, "culprit") => match at(decision.commit) {
            Some(commit) => format!(
                "Culprit: {} with posterior {}{confidence}",
                commit_line(commit),
                percent(decision.probability)
            ),
            None => "Culprit found; its commit is not in the recorded path".to_string(),
        },
        ("ambiguous", _) | (_, "ambiguous") => {
            let (first, last) = (at(decision.first), at(decision.last));
            match (first, last) {
                (Some(first), Some(last)) => format!(
                    "No single culprit: it is one of {}..{}, untestable commits and the first \
                     testable one after them, which no run can tell apart (posterior {})",
                    short(&first.hash),
                    short(&last.hash),
                    percent(decision.probability)
                ),
                _ => "No single culprit: it hides among untestable commits".to_string(),
            }
        }
        ("predates", _) | (_, "predates") => format!(
            "The failure predates the good commit {} (posterior {})",
            short(&data.good),
            percent(decision.probability)
        ),
        (status, _) => undecided(data, status, &decision, &commit_line),
    }
}

fn undecided(
    data: &BisectData,
    status: &str,
    decision: &crate::store::report::bisect::BisectDecision,
    commit_line: &dyn Fn(&BisectCommit) -> String,
) -> String {
    let why = match status {
        "budget" => "budget spent",
        "interrupted" => "interrupted; rerun the same command to continue",
        _ => "still searching",
    };
    let best = decision
        .best
        .and_then(|i| data.commits.get(i))
        .map(|c| (c, decision.probability))
        .or_else(|| {
            let leader = data.probes.iter().rev().find_map(|p| p.posterior.first())?;
            Some((data.commit(&leader.commit)?.1, leader.probability))
        });
    let mut line = format!("Undecided ({why})");
    if let Some((commit, probability)) = best {
        line.push_str(&format!(
            ": best candidate {} at {}",
            commit_line(commit),
            percent(probability)
        ));
    }
    if let Some(runs) = data.runs_to_confirm {
        line.push_str(&format!("; about {runs} more runs would likely settle it"));
    }
    line
}
