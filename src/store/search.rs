//! Searching sightings (ingested CI failures and campaign failures) by regex, grouped by
//! signature, and the triage view of signatures over time.
//!
//! The regex's required literal pieces become a query on the trigram full-text index, so only
//! candidate rows are read and matched; a pattern without such pieces scans every sighting.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use regex::Regex;
use regex_syntax::hir::{Hir, HirKind};
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::store::Store;

/// Lines of context shown around a match.
const CONTEXT_LINES: usize = 2;
/// Most alternatives a literal requirement may expand to before it is dropped.
const MAX_ALTERNATIVES: usize = 16;
/// Shortest literal the trigram index can look up.
const MIN_LITERAL_CHARS: usize = 3;

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// The pattern matched against each line of a sighting (test name, message, snippet).
    pub pattern: Option<Regex>,
    /// Sightings with any line matching one of these are left out.
    pub omit: Vec<Regex>,
    /// Only sightings on or after this date (RFC 3339 prefix, e.g. `2021-04-01`).
    pub since: Option<String>,
    /// Only tests whose name contains this.
    pub test: Option<String>,
    /// Only this platform (builder).
    pub platform: Option<String>,
}

/// The example of a group: the first matching line with context.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// Sighting date.
    pub date: String,
    /// Test name.
    pub test: String,
    /// Platform.
    pub platform: Option<String>,
    /// Commit.
    pub commit: Option<String>,
    /// Where it came from (file path or campaign).
    pub source: Option<String>,
    /// The matching line.
    pub line: String,
    /// Lines around it (including it).
    pub context: Vec<String>,
}

/// One signature's matching sightings.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Signature id.
    pub signature: String,
    /// Signature text.
    pub text: String,
    /// Matching sightings.
    pub count: u64,
    /// Earliest sighting.
    pub first_seen: String,
    /// Latest sighting.
    pub last_seen: String,
    /// Platforms seen on.
    pub platforms: BTreeSet<String>,
    /// Commits seen at, oldest first.
    pub commits: Vec<String>,
    /// Test names.
    pub tests: BTreeSet<String>,
    /// Campaign failures among the sightings.
    pub from_campaigns: u64,
    /// One example.
    pub example: Example,
}

/// Result of a search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Groups, most sightings first.
    pub groups: Vec<Group>,
    /// Sightings read and matched.
    pub scanned: u64,
    /// Whether the full-text index narrowed the scan.
    pub used_index: bool,
}

/// Run a search.
pub fn search(store: &Store, query: &SearchQuery) -> Result<SearchResult> {
    let fts = query.pattern.as_ref().and_then(|p| fts_query(p.as_str()));
    let mut sql = String::from(
        "SELECT s.id, s.date, s.test, s.message, s.snippet, s.signature, s.platform, s.commit_id,
                COALESCE(s.path, s.source), s.origin
         FROM sightings s WHERE 1 = 1",
    );
    let mut values: Vec<String> = Vec::new();
    if let Some(fts) = &fts {
        values.push(fts.clone());
        sql.push_str(&format!(
            " AND s.id IN (SELECT rowid FROM sightings_fts WHERE sightings_fts MATCH ?{})",
            values.len()
        ));
    }
    if let Some(since) = &query.since {
        values.push(since.clone());
        sql.push_str(&format!(" AND s.date >= ?{}", values.len()));
    }
    if let Some(test) = &query.test {
        values.push(format!("%{}%", like_escape(test)));
        sql.push_str(&format!(" AND s.test LIKE ?{} ESCAPE '\\'", values.len()));
    }
    if let Some(platform) = &query.platform {
        values.push(platform.clone());
        sql.push_str(&format!(" AND s.platform = ?{}", values.len()));
    }
    sql.push_str(" ORDER BY s.date, s.id");
    let mut statement = store.conn().prepare(&sql).context("prepare search")?;
    let mut rows = statement.query(rusqlite::params_from_iter(values.iter()))?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut commit_seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut scanned = 0u64;
    let mut signature_text = store
        .conn()
        .prepare_cached("SELECT text FROM signatures WHERE id = ?1")?;
    while let Some(row) = rows.next()? {
        scanned += 1;
        let test: String = row.get(2)?;
        let message: String = row.get(3)?;
        let snippet: String = row.get(4)?;
        let texts = [test.as_str(), message.as_str(), snippet.as_str()];
        if let Some(pattern) = &query.pattern {
            if !texts.iter().any(|text| pattern.is_match(text)) {
                continue;
            }
        }
        if query
            .omit
            .iter()
            .any(|omit| texts.iter().any(|text| omit.is_match(text)))
        {
            continue;
        }
        let date: String = row.get(1)?;
        let signature: String = row.get(5)?;
        let platform: Option<String> = row.get(6)?;
        let commit: Option<String> = row.get(7)?;
        let origin: String = row.get(9)?;
        let group = match groups.get_mut(&signature) {
            Some(group) => group,
            None => {
                // Only a group's first sighting needs its matching line and context.
                let (line, context) = match &query.pattern {
                    Some(pattern) => find_line(pattern, &texts).unwrap_or_default(),
                    None => first_line(&message, &snippet),
                };
                let text: Option<String> = signature_text
                    .query_row([&signature], |row| row.get(0))
                    .optional()?;
                let source: Option<String> = row.get(8)?;
                groups.entry(signature.clone()).or_insert(Group {
                    signature: signature.clone(),
                    text: text.unwrap_or_else(|| signature.clone()),
                    count: 0,
                    first_seen: date.clone(),
                    last_seen: date.clone(),
                    platforms: BTreeSet::new(),
                    commits: Vec::new(),
                    tests: BTreeSet::new(),
                    from_campaigns: 0,
                    example: Example {
                        date: date.clone(),
                        test: test.clone(),
                        platform: platform.clone(),
                        commit: commit.clone(),
                        source,
                        line,
                        context,
                    },
                })
            }
        };
        group.count += 1;
        if origin == "campaign" {
            group.from_campaigns += 1;
        }
        // Rows arrive in date order.
        group.last_seen = date;
        if let Some(platform) = platform {
            if !group.platforms.contains(&platform) {
                group.platforms.insert(platform);
            }
        }
        if let Some(commit) = commit {
            if commit_seen
                .entry(signature)
                .or_default()
                .insert(commit.clone())
            {
                group.commits.push(commit);
            }
        }
        if !test.is_empty() && !group.tests.contains(&test) {
            group.tests.insert(test);
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.first_seen.cmp(&b.first_seen)));
    Ok(SearchResult {
        groups,
        scanned,
        used_index: fts.is_some(),
    })
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The first line of any text that matches, with context from the same text.
fn find_line(pattern: &Regex, texts: &[&str]) -> Option<(String, Vec<String>)> {
    for text in texts {
        if !pattern.is_match(text) {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        if let Some(position) = lines.iter().position(|line| pattern.is_match(line)) {
            let start = position.saturating_sub(CONTEXT_LINES);
            let end = (position + CONTEXT_LINES + 1).min(lines.len());
            let context = lines[start..end].iter().map(|l| l.to_string()).collect();
            return Some((lines[position].to_string(), context));
        }
        // A match spanning lines: show the start of the text.
        let context: Vec<String> = lines
            .iter()
            .take(CONTEXT_LINES * 2 + 1)
            .map(|l| l.to_string())
            .collect();
        return Some((
            lines.first().copied().unwrap_or_default().to_string(),
            context,
        ));
    }
    None
}

fn first_line(message: &str, snippet: &str) -> (String, Vec<String>) {
    let line = message
        .lines()
        .next()
        .or_else(|| snippet.lines().next())
        .unwrap_or_default()
        .to_string();
    (line.clone(), vec![line])
}

/// An FTS5 query that every text matching `pattern` also matches, if one can be built.
pub fn fts_query(pattern: &str) -> Option<String> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let alternatives = required_literals(&hir)?;
    let mut clauses = Vec::new();
    for group in alternatives {
        let terms: Vec<String> = group
            .into_iter()
            .filter(|literal| literal.chars().count() >= MIN_LITERAL_CHARS)
            .map(|literal| format!("\"{}\"", literal.replace('"', "\"\"")))
            .collect();
        if terms.is_empty() {
            // One alternative cannot be narrowed, so the whole pattern cannot.
            return None;
        }
        clauses.push(format!("({})", terms.join(" AND ")));
    }
    (!clauses.is_empty()).then(|| clauses.join(" OR "))
}

/// Literals a match must contain, as alternatives of conjunctions; None when unconstrained.
fn required_literals(hir: &Hir) -> Option<Vec<Vec<String>>> {
    match hir.kind() {
        HirKind::Literal(literal) => {
            let text = std::str::from_utf8(&literal.0).ok()?;
            Some(vec![vec![text.to_string()]])
        }
        HirKind::Capture(capture) => required_literals(&capture.sub),
        HirKind::Repetition(repetition) if repetition.min >= 1 => {
            required_literals(&repetition.sub)
        }
        HirKind::Concat(parts) => {
            let mut combined: Vec<Vec<String>> = vec![Vec::new()];
            let mut constrained = false;
            for part in parts {
                let Some(alternatives) = required_literals(part) else {
                    continue;
                };
                if combined.len() * alternatives.len() > MAX_ALTERNATIVES {
                    continue;
                }
                constrained = true;
                combined = combined
                    .iter()
                    .flat_map(|prefix| {
                        alternatives.iter().map(move |alternative| {
                            let mut all = prefix.clone();
                            all.extend(alternative.iter().cloned());
                            all
                        })
                    })
                    .collect();
            }
            constrained.then_some(combined)
        }
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required_literals(branch)?);
                if all.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
            Some(all)
        }
        _ => None,
    }
}

/// Triage: signatures with their sighting counts per period.
#[derive(Debug, Clone, Serialize)]
pub struct TriageRow {
    /// Signature id.
    pub signature: String,
    /// Signature text.
    pub text: String,
    /// All sightings.
    pub count: u64,
    /// First sighting.
    pub first_seen: String,
    /// Last sighting.
    pub last_seen: String,
    /// Commit of the last sighting.
    pub last_commit: Option<String>,
    /// Counts per period, oldest first, aligned with [`Triage::periods`].
    pub per_period: Vec<u64>,
    /// Whole periods since the one of the last sighting (0: seen in the newest period).
    pub quiet_periods: u64,
    /// new | worse | better | gone | steady.
    pub trend: &'static str,
}

/// The triage view.
#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    /// Length of each period (the labels say it for JSON readers).
    #[serde(skip)]
    pub period: Period,
    /// Period labels (start dates), oldest first.
    pub periods: Vec<String>,
    /// Quiet periods after which a signature is `gone`.
    pub gone_after: u64,
    /// Signatures, most recent activity first.
    pub rows: Vec<TriageRow>,
}

/// Length of a triage period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Calendar days.
    Day,
    /// Weeks of 7 days from the first sighting.
    Week,
}

/// Quiet periods after which a signature is called `gone`, unless asked otherwise.
pub const DEFAULT_GONE_AFTER: u64 = 3;

/// Build the triage view from a search result's groups and the sightings behind them, over
/// `periods` periods ending with the newest sighting's; a signature not seen for `gone_after`
/// periods is `gone`.
pub fn triage(
    store: &Store,
    query: &SearchQuery,
    period: Period,
    periods: usize,
    gone_after: u64,
) -> Result<Triage> {
    let result = search(store, query)?;
    let wanted: BTreeSet<&str> = result.groups.iter().map(|g| g.signature.as_str()).collect();
    let newest = result
        .groups
        .iter()
        .map(|g| g.last_seen.clone())
        .max()
        .unwrap_or_default();
    let newest_day = day_number(&newest).unwrap_or(0);
    let length = match period {
        Period::Day => 1,
        Period::Week => 7,
    };
    let first_day = newest_day - (periods as i64 - 1) * length;
    let mut counts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut statement = store
        .conn()
        .prepare("SELECT signature, date FROM sightings ORDER BY date")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let signature: String = row.get(0)?;
        if !wanted.contains(signature.as_str()) {
            continue;
        }
        let date: String = row.get(1)?;
        let Some(day) = day_number(&date) else {
            continue;
        };
        if day < first_day {
            continue;
        }
        let bucket = ((day - first_day) / length) as usize;
        let slots = counts.entry(signature).or_insert_with(|| vec![0; periods]);
        if let Some(slot) = slots.get_mut(bucket.min(periods - 1)) {
            *slot += 1;
        }
    }
    let labels = (0..periods)
        .map(|i| date_of_day(first_day + i as i64 * length))
        .collect();
    let mut triage_rows: Vec<TriageRow> = result
        .groups
        .into_iter()
        .map(|group| {
            let per_period = counts
                .remove(&group.signature)
                .unwrap_or_else(|| vec![0; periods]);
            // Periods are counted back from the newest one, also past the window's start.
            let last_period =
                day_number(&group.last_seen).map_or(0, |day| (day - first_day).div_euclid(length));
            let quiet_periods = (periods as i64 - 1 - last_period).max(0) as u64;
            let trend = classify(
                &per_period,
                &group,
                first_day,
                length,
                quiet_periods,
                gone_after,
            );
            TriageRow {
                last_commit: group.commits.last().cloned(),
                signature: group.signature,
                text: group.text,
                count: group.count,
                first_seen: group.first_seen,
                last_seen: group.last_seen,
                per_period,
                quiet_periods,
                trend,
            }
        })
        .collect();
    triage_rows.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(b.count.cmp(&a.count)));
    Ok(Triage {
        period,
        periods: labels,
        gone_after,
        rows: triage_rows,
    })
}

/// The trend of one signature: `gone` after `gone_after` quiet periods, `new` when all of it
/// falls in the recent quarter of the window, else its recent quarter against the one before.
fn classify(
    per_period: &[u64],
    group: &Group,
    first_day: i64,
    length: i64,
    quiet_periods: u64,
    gone_after: u64,
) -> &'static str {
    let periods = per_period.len();
    let recent_window = (periods / 4).max(1);
    let recent: u64 = per_period[periods - recent_window..].iter().sum();
    let before: u64 = per_period
        [periods.saturating_sub(2 * recent_window)..periods - recent_window]
        .iter()
        .sum();
    let first = day_number(&group.first_seen).unwrap_or(first_day);
    let newest_bucket_start = first_day + (periods as i64 - recent_window as i64) * length;
    if quiet_periods >= gone_after {
        "gone"
    } else if first >= newest_bucket_start && group.count == recent {
        "new"
    } else if recent > 2 * before.max(1) {
        "worse"
    } else if 2 * recent < before {
        "better"
    } else {
        "steady"
    }
}

/// Days since the Unix epoch of an RFC 3339-like date (`2021-04-16`, `2021-04-16T03:16:11Z`).
fn day_number(date: &str) -> Option<i64> {
    let day = date.get(..10)?;
    let parsed = humantime::parse_rfc3339_weak(&format!("{day}T00:00:00")).ok()?;
    let seconds = parsed.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some((seconds / 86_400) as i64)
}

fn date_of_day(day: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs((day.max(0) as u64) * 86_400);
    humantime::format_rfc3339_seconds(time).to_string()[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_requirements_become_fts_queries() {
        assert_eq!(
            fts_query("No signal received").as_deref(),
            Some("(\"No signal received\")")
        );
        assert_eq!(
            fts_query(r"panic: .* index out").as_deref(),
            Some("(\"panic: \" AND \" index out\")")
        );
        assert_eq!(
            fts_query("timeout|deadlock").as_deref(),
            Some("(\"timeout\") OR (\"deadlock\")")
        );
        assert_eq!(fts_query(r"\d+"), None);
        assert_eq!(
            fts_query("ab|deadlock"),
            None,
            "a 2-char alternative cannot use the index"
        );
        assert_eq!(
            fts_query(r#"say "hi" there"#).as_deref(),
            Some("(\"say \"\"hi\"\" there\")")
        );
    }

    #[test]
    fn context_lines_surround_the_match() {
        let pattern = Regex::new("FAIL").expect("regex");
        let text = "a\nb\nc\n--- FAIL: TestX\nd\ne\nf";
        let (line, context) = find_line(&pattern, &["", text]).expect("match");
        assert_eq!(line, "--- FAIL: TestX");
        assert_eq!(context, vec!["b", "c", "--- FAIL: TestX", "d", "e"]);
    }

    #[test]
    fn day_numbers() {
        assert_eq!(day_number("1970-01-02"), Some(1));
        assert_eq!(
            day_number("2021-04-16T03:16:11"),
            day_number("2021-04-16T23:00:00Z")
        );
        assert_eq!(
            date_of_day(day_number("2021-04-16").expect("day")),
            "2021-04-16"
        );
        assert_eq!(day_number("garbage"), None);
    }
}
