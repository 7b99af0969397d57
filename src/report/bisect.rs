//! The bisect views: a line per probe with the posterior after it, the final report (culprit,
//! its posterior, runs per commit, the trail of probes, what more runs would buy), and the
//! simulation table; each also as JSON.

use std::fmt::Write;

use anyhow::{Context, Result};

use crate::analysis::bisect::simulate::{Scenario, Tally};
use crate::analysis::bisect::{
    BisectReport, CommitInfo, CommitReport, Decision, ProbeRecord, Status,
};
use crate::report::format::{format_rate, thousands};
use crate::text::escape_line;

/// Characters of a subject or signature shown on one line.
const TEXT_WIDTH: usize = 60;

/// Commits listed in the table besides those that were probed or lead the posterior.
const POSTERIOR_SHOWN: f64 = 0.001;

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn clip(text: &str) -> String {
    escape_line(text.as_bytes(), TEXT_WIDTH)
}

/// A probability as a percentage with one decimal, never rounding up to 100%.
fn percent(p: f64) -> String {
    let shown = (p * 1000.0).floor() / 10.0;
    format!("{shown:.1}%")
}

/// The line printed when a probe is recorded (`resumed`: found in the history).
pub fn progress(probe: &ProbeRecord, path: &[CommitInfo], resumed: bool) -> String {
    let position = path
        .iter()
        .position(|c| c.hash == probe.commit)
        .map_or_else(|| "?".to_string(), |i| i.to_string());
    let prefix = if resumed { "resumed " } else { "" };
    let head = format!(
        "bisect: {prefix}probe {:>3} at {} ({position}/{})",
        probe.seq + 1,
        short(&probe.commit),
        path.len().saturating_sub(1)
    );
    if let Some(reason) = &probe.untestable {
        return format!("{head}: untestable: {}\n", clip(reason));
    }
    let failures: u64 = probe.signatures.iter().map(|s| s.count).sum();
    let other = failures.saturating_sub(probe.target_failures);
    let best = match probe.posterior.first() {
        Some(best) => format!(
            "  best {} {}",
            short(&best.commit),
            percent(best.probability)
        ),
        None => "  (measuring the bad commit)".to_string(),
    };
    format!(
        "{head}: {:>6} runs {:>4} target {:>4} other{best}\n",
        thousands(probe.runs),
        thousands(probe.target_failures),
        thousands(other)
    )
}

/// The report as one line of JSON.
pub fn json(report: &BisectReport) -> Result<String> {
    let mut value = serde_json::to_value(report).context("could not encode the bisection")?;
    // Commit indices are internal; name the culprit by hash too.
    if let Some(object) = value.as_object_mut() {
        let named = |k: usize| report.commits.get(k).map(|c| c.info.hash.clone());
        let culprit = match report.decision {
            Decision::Culprit { commit, .. } => named(commit),
            _ => None,
        };
        object.insert("culprit".into(), serde_json::json!(culprit));
    }
    serde_json::to_string(&value).context("could not encode the bisection")
}

/// The report for a terminal or a log.
pub fn text(report: &BisectReport) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, report);
    out
}

fn render_into(out: &mut String, report: &BisectReport) -> std::fmt::Result {
    headline(out, report)?;
    writeln!(out)?;
    match &report.target {
        Some(target) => writeln!(
            out,
            "target:     {} {}",
            if target.id.is_empty() {
                "-"
            } else {
                short(&target.id)
            },
            clip(&target.text)
        )?,
        None => writeln!(
            out,
            "target:     not chosen yet (the bad commit has not failed often enough)"
        )?,
    }
    if let Some(rate) = report.rate {
        writeln!(
            out,
            "rate:       {} where the failure is present (posterior mean)",
            format_rate(rate)
        )?;
    }
    let resumed = if report.resumed_probes > 0 {
        let plural = if report.resumed_probes == 1 { "" } else { "s" };
        format!(
            ", {} probe{plural} resumed from the history",
            report.resumed_probes
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "runs:       {} in {} probes ({} now{resumed}); builds: {} now",
        thousands(report.runs),
        report.trail.len(),
        thousands(report.runs_now),
        report.builds
    )?;
    for other in report.other_failures.iter().take(5) {
        writeln!(
            out,
            "not counted: {:>5}x {} {}",
            thousands(other.count),
            short(&other.id),
            clip(&other.text)
        )?;
    }
    writeln!(out)?;
    commit_table(out, report)?;
    writeln!(out)?;
    trail(out, report)?;
    if let Some(dir) = &report.worktrees {
        writeln!(out, "\nworktrees kept in {dir}")?;
    }
    Ok(())
}

/// Why a search stopped before it began: the bad commit never failed (as the target), so
/// there is nothing to look for.
fn never_failed(report: &BisectReport) -> Option<String> {
    let bad = report.commits.last()?;
    let runs = thousands(bad.runs);
    let hash = short(&bad.info.hash);
    let advice = "check --bad, or give --rate R or a larger --budget to look longer";
    match &report.target {
        Some(_) if bad.failures > 0 => None,
        Some(_) => Some(format!(
            "no culprit: the bad commit {hash} never failed as the target in {runs} runs \
             ({} other failures); {advice}, or choose another --signature",
            thousands(bad.other)
        )),
        None if bad.other == 0 => Some(format!(
            "no culprit: the bad commit {hash} never failed in {runs} runs; {advice}"
        )),
        None => Some(format!(
            "no culprit: the bad commit {hash} failed {} times in {runs} runs, too few to tell \
             which failure to search for; {advice}, or name it with --signature",
            thousands(bad.other)
        )),
    }
}

fn headline(out: &mut String, report: &BisectReport) -> std::fmt::Result {
    let commit = |k: usize| report.commits.get(k);
    let confidence = percent(report.confidence);
    match (&report.decision, report.status) {
        (
            Decision::Culprit {
                commit: k,
                probability,
            },
            _,
        ) => {
            if let Some(c) = commit(*k) {
                writeln!(
                    out,
                    "culprit: {}  {}",
                    short(&c.info.hash),
                    clip(&c.info.subject)
                )?;
                writeln!(out, "  author:    {}", clip(&c.info.author))?;
                writeln!(out, "  date:      {}", c.info.date)?;
                writeln!(
                    out,
                    "  posterior: {} (asked for {confidence})",
                    percent(*probability)
                )?;
            }
            Ok(())
        }
        (
            Decision::Ambiguous {
                first,
                last,
                probability,
            },
            _,
        ) => {
            writeln!(
                out,
                "the culprit is one of these {} commits ({} together); the untestable ones among them cannot be told apart:",
                last - first + 1,
                percent(*probability)
            )?;
            for c in report.commits.iter().take(last + 1).skip(*first) {
                let mark = if c.untestable.is_some() {
                    "untestable"
                } else {
                    "tested"
                };
                writeln!(
                    out,
                    "  {}  {:<10}  {}",
                    short(&c.info.hash),
                    mark,
                    clip(&c.info.subject)
                )?;
            }
            Ok(())
        }
        (Decision::Predates { probability }, _) => {
            let good = commit(0).map_or("", |c| short(&c.info.hash));
            writeln!(
                out,
                "the failure is already present at the good commit {good} ({}): choose an older --good",
                percent(*probability)
            )
        }
        (Decision::Searching { .. }, status) => {
            if status != Status::Interrupted {
                if let Some(line) = never_failed(report) {
                    return writeln!(out, "{line}");
                }
            }
            let why = if status == Status::Interrupted {
                "interrupted; rerun the same command to continue"
            } else {
                "budget spent; rerun the same command (with a budget) to continue"
            };
            writeln!(out, "no culprit at {confidence} yet: {why}")?;
            if !report.candidates.is_empty() {
                writeln!(out, "best candidates:")?;
                for candidate in &report.candidates {
                    let subject = report
                        .commits
                        .iter()
                        .find(|c| c.info.hash == candidate.commit)
                        .map_or(String::new(), |c| clip(&c.info.subject));
                    writeln!(
                        out,
                        "  {}  {:>6}  {subject}",
                        short(&candidate.commit),
                        percent(candidate.probability)
                    )?;
                }
            }
            if let Some(runs) = report.runs_to_confirm {
                let pace = if report.elapsed_s > 0.0 && report.runs_now > 0 {
                    let seconds = runs as f64 * report.elapsed_s / report.runs_now as f64;
                    format!(
                        " (about {} at this pace)",
                        crate::report::compact_duration(std::time::Duration::from_secs_f64(
                            seconds
                        ))
                    )
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "about {} more runs would likely settle the best candidate{pace}",
                    thousands(runs)
                )?;
            }
            Ok(())
        }
    }
}

fn shown(commit: &CommitReport, k: usize, last: usize) -> bool {
    k == 0
        || k == last
        || commit.runs > 0
        || commit.untestable.is_some()
        || commit.posterior >= POSTERIOR_SHOWN
}

fn commit_table(out: &mut String, report: &BisectReport) -> std::fmt::Result {
    writeln!(
        out,
        "{:>5}  {:<12}  {:>8}  {:>6}  {:>8}  {:>6}  {:>9}  subject",
        "#", "commit", "runs", "target", "clean", "other", "posterior"
    )?;
    let last = report.commits.len().saturating_sub(1);
    let mut hidden = 0;
    for (k, commit) in report.commits.iter().enumerate() {
        if !shown(commit, k, last) {
            hidden += 1;
            continue;
        }
        let role = match k {
            0 => " (good)",
            k if k == last => " (bad)",
            _ => "",
        };
        let posterior = if commit.untestable.is_some() && commit.posterior == 0.0 {
            "-".to_string()
        } else {
            percent(commit.posterior)
        };
        let subject = match &commit.untestable {
            Some(reason) => format!("untestable: {}", clip(reason)),
            None => clip(&commit.info.subject),
        };
        writeln!(
            out,
            "{k:>5}  {:<12}  {:>8}  {:>6}  {:>8}  {:>6}  {:>9}  {subject}{role}",
            short(&commit.info.hash),
            thousands(commit.runs),
            thousands(commit.failures),
            thousands(commit.clean),
            thousands(commit.other),
            posterior
        )?;
    }
    if hidden > 0 {
        writeln!(
            out,
            "  ({hidden} commits never probed and below {} not shown)",
            percent(POSTERIOR_SHOWN)
        )?;
    }
    Ok(())
}

fn trail(out: &mut String, report: &BisectReport) -> std::fmt::Result {
    writeln!(out, "trail (posterior after each probe):")?;
    for probe in &report.trail {
        let path: Vec<CommitInfo> = report.commits.iter().map(|c| c.info.clone()).collect();
        let line = progress(probe, &path, false);
        out.push_str("  ");
        out.push_str(line.trim_start_matches("bisect: "));
    }
    Ok(())
}

/// The result of `bisect --simulate`: the search, and naive bisection on the same trials.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Simulation {
    /// The simulated problem.
    pub scenario: Scenario,
    /// The flake-aware search.
    pub search: Tally,
    /// Naive bisection, each way it was run.
    pub naive: Vec<NaiveRow>,
}

/// Naive bisection with one number of reruns per step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NaiveRow {
    /// Reruns per step.
    pub reruns: u64,
    /// Each step ended at its first failure.
    pub stop_early: bool,
    /// How it did.
    pub tally: Tally,
}

/// The simulation as a table.
pub fn simulation_text(simulation: &Simulation) -> String {
    let mut out = String::new();
    let s = &simulation.scenario;
    let culprit = s.culprit.map_or("random".to_string(), |c| c.to_string());
    let _ = writeln!(
        out,
        "{} commits, culprit {culprit}, rate {}, background {}, {} untestable, confidence {}, rate {}",
        s.commits,
        format_rate(s.rate),
        format_rate(s.background),
        s.untestable,
        percent(s.confidence),
        if s.rate_known { "given" } else { "measured" }
    );
    let _ = writeln!(
        out,
        "{:<26} {:>8} {:>10} {:>10} {:>10} {:>8}",
        "method", "trials", "accuracy", "mean runs", "max runs", "probes"
    );
    let row = |out: &mut String, name: &str, t: &Tally| {
        let _ = writeln!(
            out,
            "{name:<26} {:>8} {:>10} {:>10} {:>10} {:>8.1}",
            t.trials,
            percent(t.accuracy()),
            thousands(t.mean_runs.round() as u64),
            thousands(t.max_runs),
            t.mean_probes
        );
    };
    row(&mut out, "flake-aware", &simulation.search);
    for naive in &simulation.naive {
        let how = if naive.stop_early {
            ", stop at 1st"
        } else {
            ""
        };
        row(
            &mut out,
            &format!("naive x{}{how}", naive.reruns),
            &naive.tally,
        );
    }
    for naive in &simulation.naive {
        if naive.tally.mean_runs > 0.0 {
            let how = if naive.stop_early {
                "stopping each step at its first failure"
            } else {
                "running every rerun"
            };
            let _ = writeln!(
                out,
                "runs ratio, flake-aware / naive {how}: {:.2}",
                simulation.search.mean_runs / naive.tally.mean_runs
            );
        }
    }
    out
}

/// The simulation as one line of JSON.
pub fn simulation_json(simulation: &Simulation) -> Result<String> {
    serde_json::to_string(simulation).context("could not encode the simulation")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::bisect::{Candidate, ProbeSignature, TargetRecord};

    fn info(i: usize) -> CommitInfo {
        CommitInfo {
            hash: format!("{i:02}{}", "ab".repeat(19)),
            subject: format!("change number {i}"),
            author: "A U Thor <author@example.com>".into(),
            date: "2024-05-01T10:00:00+00:00".into(),
        }
    }

    fn commit(i: usize, runs: u64, failures: u64, posterior: f64) -> CommitReport {
        CommitReport {
            info: info(i),
            runs,
            failures,
            clean: runs - failures,
            other: 0,
            untestable: None,
            posterior,
        }
    }

    fn probe(seq: u64, i: usize, runs: u64, failed: u64, best: (usize, f64)) -> ProbeRecord {
        ProbeRecord {
            seq,
            commit: info(i).hash,
            campaign: Some(format!("campaign-{seq}")),
            runs,
            passes: runs - failed,
            signatures: if failed > 0 {
                vec![ProbeSignature {
                    id: "0123456789ab".into(),
                    text: "exit 1: race lost".into(),
                    count: failed,
                    ignored: false,
                }]
            } else {
                Vec::new()
            },
            target_failures: failed,
            untestable: None,
            posterior: vec![Candidate {
                commit: info(best.0).hash,
                probability: best.1,
            }],
        }
    }

    fn report(decision: Decision, status: Status) -> BisectReport {
        let mut commits: Vec<CommitReport> = (0..9).map(|i| commit(i, 0, 0, 0.0)).collect();
        commits[8] = commit(8, 60, 3, 0.0);
        commits[4] = commit(4, 400, 0, 0.004);
        commits[5] = commit(5, 30, 1, 0.995);
        commits[2].untestable = Some("the build failed with exit 2 (log: b.log)".into());
        commits[6].posterior = 0.001;
        BisectReport {
            bisection: 1,
            status,
            decision,
            confidence: 0.99,
            target: Some(TargetRecord {
                id: "0123456789ab".into(),
                text: "exit 1: race lost".into(),
            }),
            commits,
            candidates: vec![Candidate {
                commit: info(5).hash,
                probability: 0.995,
            }],
            trail: vec![
                probe(0, 8, 60, 3, (8, 0.0)),
                probe(1, 4, 200, 0, (8, 0.3)),
                probe(2, 5, 30, 1, (5, 0.6)),
                probe(3, 4, 200, 0, (5, 0.995)),
            ],
            resumed_probes: 1,
            runs: 490,
            runs_now: 430,
            builds: 3,
            rate: Some(0.05),
            runs_to_confirm: None,
            other_failures: vec![ProbeSignature {
                id: "ffff00001111".into(),
                text: "exit 3: network unreachable".into(),
                count: 7,
                ignored: false,
            }],
            elapsed_s: 12.0,
            worktrees: None,
        }
    }

    #[test]
    fn culprit_report() {
        let found = report(
            Decision::Culprit {
                commit: 5,
                probability: 0.995,
            },
            Status::Culprit,
        );
        insta::assert_snapshot!(text(&found));
        let json: serde_json::Value =
            serde_json::from_str(&json(&found).expect("json")).expect("parse");
        assert_eq!(json["culprit"], info(5).hash);
        assert_eq!(json["status"], "culprit");
        assert_eq!(json["trail"].as_array().map(Vec::len), Some(4));
    }

    #[test]
    fn budget_spent_report() {
        let mut spent = report(
            Decision::Searching {
                best: 5,
                probability: 0.6,
            },
            Status::BudgetSpent,
        );
        spent.runs_to_confirm = Some(1234);
        spent.candidates.push(Candidate {
            commit: info(4).hash,
            probability: 0.3,
        });
        spent.worktrees = Some("/cache/flakehunt/bisect/repo-0123".into());
        insta::assert_snapshot!(text(&spent));
    }

    #[test]
    fn ambiguous_and_predating_headlines() {
        let ambiguous = report(
            Decision::Ambiguous {
                first: 2,
                last: 3,
                probability: 0.992,
            },
            Status::Ambiguous,
        );
        let predates = report(Decision::Predates { probability: 0.999 }, Status::Predates);
        let mut both = String::new();
        headline(&mut both, &ambiguous).expect("ambiguous");
        headline(&mut both, &predates).expect("predates");
        insta::assert_snapshot!(both);
    }

    #[test]
    fn never_failed_headlines() {
        let searching = Decision::Searching {
            best: 8,
            probability: 0.1,
        };
        let mut out = String::new();
        // The target was named but never showed; other failures did.
        let mut named = report(searching.clone(), Status::BudgetSpent);
        named.commits[8] = commit(8, 200, 0, 0.0);
        named.commits[8].other = 5;
        headline(&mut out, &named).expect("named");
        // No failure at all: nothing to choose a target from.
        let mut silent = report(searching.clone(), Status::BudgetSpent);
        silent.target = None;
        silent.commits[8] = commit(8, 100_000, 0, 0.0);
        headline(&mut out, &silent).expect("silent");
        // Some failures, but no clear leader among them.
        silent.commits[8].other = 2;
        headline(&mut out, &silent).expect("unsettled");
        // Interrupted, it only says so.
        let interrupted = report(searching, Status::Interrupted);
        let mut quiet = interrupted.clone();
        quiet.commits[8] = commit(8, 10, 0, 0.0);
        headline(&mut out, &quiet).expect("interrupted");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn percentages_never_round_up_to_certainty() {
        assert_eq!(percent(0.9999), "99.9%");
        assert_eq!(percent(0.5), "50.0%");
    }
}
