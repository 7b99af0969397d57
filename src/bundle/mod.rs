//! Campaign bundles: a portable, versioned record of one campaign (or one shard of it) that
//! `flakehunt merge` folds into a history elsewhere. JSON lines: a header, one line per run,
//! and an end line with the counts and a checksum of everything before it.

pub mod arms;
pub mod export;
pub mod merge;
pub mod read;

use serde::{Deserialize, Serialize};

use crate::record::{Signature, Termination, Verdict};
use crate::spec::Shard;

/// Format name in every bundle's header.
pub const FORMAT: &str = "flakehunt-bundle";
/// Version of the format this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of a failing run's output a bundle keeps: the first and last half of this.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// Bytes of a failing run's stacks text a bundle keeps.
pub const STACKS_CAP: usize = 64 * 1024;

/// First line of a bundle: what ran, where, and which shard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// Campaign id (shared by the shards of one dispatched campaign).
    pub campaign: String,
    /// The shard this bundle holds (None: the whole campaign).
    pub shard: Option<Shard>,
    /// `--runs` of the whole campaign, when it had one.
    pub campaign_runs: Option<u64>,
    /// The command as run.
    pub command: Vec<String>,
    /// The options that shaped the campaign, as the history records them.
    pub spec: serde_json::Value,
    /// Working directory of the runs.
    pub cwd: String,
    /// Output directory of the shard (it may appear in the command, e.g. a JUnit report
    /// path; shards are compared with it left out).
    #[serde(default)]
    pub out_dir: String,
    /// Git commit of the working directory, if in a repository.
    pub git_commit: Option<String>,
    /// Whether tracked files differed from that commit.
    pub git_dirty: Option<bool>,
    /// Host the shard ran on.
    pub host: String,
    /// flakehunt version that wrote the bundle.
    pub flakehunt: String,
    /// RFC 3339 start of the campaign.
    pub started_at: String,
    /// Bytes of each failing run's output kept (first and last half); longer output is cut in
    /// the middle, and the run says how long it was.
    pub output_cap: usize,
    /// The hunt arm this bundle ran, when it is one arm of a sharded hunt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hunt_arm: Option<HuntArm>,
}

/// One arm of a hunt split across machines (`hunt --shard K/N --export`): shard K ran arm K
/// of the hunt's N arms as a campaign of its own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HuntArm {
    /// Id the arms of one hunt share.
    pub hunt: String,
    /// This arm's perturbation (`plain` for none).
    pub arm: String,
    /// Its number, 1-based, in `arms`.
    pub number: u64,
    /// Every arm of the hunt, in order.
    pub arms: Vec<String>,
}

/// One finished run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleRun {
    /// Campaign-wide run index (`FLAKEHUNT_RUN`).
    pub index: u64,
    /// Start, microseconds since the Unix epoch.
    pub started_us: u64,
    /// Wall time, microseconds.
    pub duration_us: u64,
    /// How the process ended.
    pub termination: Termination,
    /// Pass, fail or ignored.
    pub verdict: Verdict,
    /// `FLAKEHUNT_SEED`, if the run had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Output pipes outlived the process group.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaked_pipes: bool,
    /// Failure signature (failed and ignored runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// The line that explained the failure, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telling_line: Option<String>,
    /// The line shown as the failure's example (the telling line, else the last line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example_line: Option<String>,
    /// Per-test results, when the campaign read its runs test by test.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<BundleTest>,
    /// The failure's output, capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<CappedText>,
    /// Stacks of the hung or crashed run, capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacks: Option<CappedText>,
}

/// One test's result in a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BundleTest {
    /// Test name.
    pub name: String,
    /// pass | fail | skip.
    pub status: crate::record::test_result::TestStatus,
    /// Signature of its failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// Its failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Text cut to a cap (invalid UTF-8 shown as U+FFFD), with its full length.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CappedText {
    /// The kept text: all of it, or its head and tail around a `[... N bytes cut ...]` line.
    pub text: String,
    /// Length of the whole, in bytes.
    pub total_bytes: u64,
    /// Whether the middle was cut.
    pub cut: bool,
}

impl CappedText {
    /// `bytes` cut to `cap` (its first and last `cap / 2`).
    pub fn new(bytes: &[u8], cap: usize) -> CappedText {
        let total_bytes = bytes.len() as u64;
        if bytes.len() <= cap {
            return CappedText {
                text: String::from_utf8_lossy(bytes).into_owned(),
                total_bytes,
                cut: false,
            };
        }
        let half = cap / 2;
        let (head, tail) = (&bytes[..half], &bytes[bytes.len() - half..]);
        let text = format!(
            "{}\n[... {} bytes cut by the bundle ...]\n{}",
            String::from_utf8_lossy(head),
            bytes.len() - 2 * half,
            String::from_utf8_lossy(tail)
        );
        CappedText {
            text,
            total_bytes,
            cut: true,
        }
    }
}

/// Last line of a complete bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct End {
    /// Run lines in the bundle.
    pub runs: u64,
    /// Failed runs among them.
    pub failures: u64,
    /// Why the campaign (or shard) stopped.
    pub stop_reason: String,
    /// Stopped by a signal before its own stop rule.
    pub interrupted: bool,
    /// Runs cancelled unfinished at the stop (in no run line).
    pub cancelled: u64,
    /// Wall time of the campaign, seconds.
    pub elapsed_s: f64,
    /// XXH3-64 (hex) of every byte before this line.
    pub checksum: String,
}

/// One line of a bundle after the header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// A finished run.
    Run(Box<BundleRun>),
    /// The end of a complete bundle.
    End(End),
}
