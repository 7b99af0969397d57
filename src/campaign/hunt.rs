//! The hunt as one campaign: its arms become labelled parts, [`crate::shake::detect`] tells
//! which runtime knobs can reach the program, the bandit in [`crate::analysis::hunt`] picks
//! each batch's arm between runs, and the outcome is recorded for `--shake best` and reports.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::analysis::hunt::{
    ArmId, Bandit, BatchSize, Budget, HuntOutcome, Phase, Policy, RunOutcome, PLAIN,
};
use crate::campaign::{launch_steered, prepare, CampaignRequest, CampaignResult, Steering};
use crate::record::FinishedRun;
use crate::report;
use crate::report::hunt::{Detected, HuntView};
use crate::runner::{Flow, Plan, RunPlan};
use crate::shake::detect::{detect, Detection};
use crate::shake::knobs::{default_arms, unreachable_knobs};
use crate::shake::{noise, online_cpus, Shake};
use crate::sink::progress::ProgressMode;
use crate::spec::Part;
use crate::store::hunt::{record_hunt, HuntCampaign};
use crate::store::report::{load_unrecorded_hunt, HuntRecord, ReportData};
use crate::store::Store;

/// How often the hunt says where it is when nothing else happens.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Wall time a batch of automatically sized runs aims at: long enough that switching arms
/// costs little, short enough that the bandit can change its mind often.
const BATCH_SPAN: Duration = Duration::from_millis(250);

/// What a user asked a hunt to do, in plain types.
#[derive(Debug, Clone)]
pub struct HuntRequest {
    /// The runner options and the command; the hunt sets its stop rules from the budget, so
    /// they must be unset, and it tries shakes itself, so `shake` must be unset too.
    pub campaign: CampaignRequest,
    /// The search ends once the arms have this many failures in all.
    pub failures: u64,
    /// What the hunt may spend in all.
    pub budget: Budget,
    /// Arms to try, `;`-separated (None: a set chosen for the program's runtime).
    pub arms: Option<String>,
    /// Runs per batch (None: about [`BATCH_SPAN`] of the arm's runs).
    pub batch: Option<u64>,
    /// Share of the budget spent confirming the winner against plain.
    pub confirm: f64,
    /// Say nothing while hunting (the outcome is still returned).
    pub quiet: bool,
}

/// A finished (or interrupted) hunt.
#[derive(Debug)]
pub struct HuntRun {
    /// What to show.
    pub view: HuntView,
    /// The campaign it ran as.
    pub result: CampaignResult,
    /// The campaign with the arms it ran, for reports.
    pub campaigns: Vec<HuntCampaign>,
    /// The recorded hunt's id (None: nothing failed, or no history).
    pub recorded: Option<i64>,
    /// Why the hunt could not be recorded, if it could not: the campaign itself was.
    pub record_error: Option<String>,
    /// The command hunted, as recorded.
    pub command: Vec<String>,
}

impl HuntRun {
    /// The data of the hunt's report when it was not recorded (nothing failed, or no history):
    /// its outcome and the campaign from `db`.
    pub fn unrecorded_report(&self, db: &Path) -> Result<ReportData> {
        let hunt = HuntRecord {
            id: 0,
            created_at: crate::store::now_rfc3339(),
            command: self.command.clone(),
            best: self.view.outcome.best.clone(),
            arms: self.view.outcome.arms.clone(),
        };
        let store = Store::open_existing(db)?;
        load_unrecorded_hunt(&store, hunt, &self.campaigns)
    }
}

/// Check what needs no campaign and turn it into the bandit's rules.
pub fn policy(request: &HuntRequest) -> Result<Policy> {
    if request.failures == 0 {
        bail!("--failures must be at least 1");
    }
    let stop = &request.campaign.stop;
    if stop.runs.is_some() || stop.duration.is_some() || stop.max_failures.is_some() {
        bail!("hunt decides how many runs each arm gets; use --budget and --failures instead of -n/--duration/--max-failures");
    }
    if request.campaign.shake.is_some() {
        bail!("hunt tries shakes itself; list them with --arms instead of --shake");
    }
    if !(0.0..1.0).contains(&request.confirm) {
        bail!("--confirm must be a share of the budget, at least 0 and below 1 (e.g. 0.2)");
    }
    let batch = match request.batch {
        Some(0) => bail!("--batch must be at least 1"),
        Some(runs) => BatchSize::Fixed(runs),
        None => BatchSize::Span {
            span: BATCH_SPAN,
            min: 2,
        },
    };
    let mut policy = Policy::new(request.failures, request.budget, batch);
    policy.confirm = request.confirm;
    Ok(policy)
}

/// Run the hunt to its end (its budget, its confirmation, or an interrupt) as one campaign,
/// and record it. Errors before anything ran are setup errors; once the campaign ran, a
/// failure to record the hunt is kept in [`HuntRun::record_error`], not lost with the rest.
pub fn hunt(request: &HuntRequest, db: &Path) -> Result<HuntRun> {
    let mut policy = policy(request)?;
    let mut campaign = request.campaign.clone();
    match policy.budget {
        Budget::Runs(runs) => campaign.stop.runs = Some(runs),
        Budget::Time(limit) => campaign.stop.duration = Some(limit),
    }
    let mut prepared = prepare(&campaign, db)?;
    if let BatchSize::Span { min, .. } = &mut policy.batch {
        // A couple of runs per job, so that every slot takes part in each batch.
        *min = 2 * prepared.spec.jobs as u64;
    }
    let detection = detect(&prepared.template.program, &prepared.template.args);
    let (parts, preamble) = choose_arms(request.arms.as_deref(), &detection)?;
    let labels: Vec<String> = parts.iter().map(|part| part.label.clone()).collect();
    let mut hunter = Hunter::new(Bandit::new(labels.clone(), policy)?, labels.clone());
    hunter.jobs = prepared.spec.jobs as f64;
    hunter.talk = !request.quiet;
    prepared.spec.parts = parts;
    // The hunt says what matters itself: a line per failure of the search, a status now and
    // then, rather than a line per failed run.
    prepared.outputs.progress = ProgressMode::Quiet;
    if !request.quiet {
        eprint!("{preamble}");
    }
    let started = Instant::now();
    let result = launch_steered(&prepared, Vec::new(), Some(&mut hunter))?;
    let outcome = hunter.bandit.outcome(result.summary.interrupted);
    let command: Vec<String> = campaign
        .command
        .iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    // One campaign of every arm: the report shows it with the arms it ran.
    let campaigns = vec![(result.summary.campaign.clone(), labels.join("; "))];
    let (recorded, record_error) = match remember(&campaign, db, &command, &outcome, &campaigns) {
        Ok(recorded) => (recorded, None),
        Err(error) => (None, Some(format!("{error:#}"))),
    };
    let view = HuntView {
        outcome,
        campaign: result.summary.campaign.clone(),
        elapsed: started.elapsed(),
        target: policy.failures,
        detected: request.arms.is_none().then(|| detected_view(&detection)),
    };
    Ok(HuntRun {
        view,
        result,
        campaigns,
        recorded,
        record_error,
        command,
    })
}

/// Remember the hunt's best arm for `--shake best` and the campaign it ran as (nothing to
/// remember when no arm failed); returns the recorded hunt's id.
fn remember(
    campaign: &CampaignRequest,
    db: &Path,
    command: &[String],
    outcome: &HuntOutcome,
    campaigns: &[HuntCampaign],
) -> Result<Option<i64>> {
    let Some(best) = &outcome.best else {
        return Ok(None);
    };
    if !campaign.record_history {
        return Ok(None);
    }
    let mut store = Store::open(db)?;
    record_hunt(&mut store, command, best, &outcome.arms, campaigns).map(Some)
}

/// The arms to try, as campaign parts, and the lines that say what was chosen and why.
fn choose_arms(arms: Option<&str>, detection: &Detection) -> Result<(Vec<Part>, String)> {
    let (texts, mut notes) = match arms {
        Some(list) => {
            let texts: Vec<String> = list
                .split(';')
                .map(|arm| arm.trim().to_string())
                .filter(|arm| !arm.is_empty())
                .collect();
            if texts.is_empty() {
                bail!("--arms lists no arm");
            }
            (texts, Vec::new())
        }
        None => {
            let found = default_arms(online_cpus().len(), detection, noise::available());
            (found.arms, found.skipped)
        }
    };
    let mut parts = Vec::new();
    for text in &texts {
        match arm_part(text, detection)? {
            Some(part) => parts.push(part),
            None => notes.push(format!("{text}: nothing of it can apply here")),
        }
    }
    if !parts.iter().any(|part| part.label == PLAIN) {
        notes.push("speedups: there is no plain arm to measure them against".into());
    }
    let labels: Vec<String> = parts.iter().map(|part| part.label.clone()).collect();
    let detected = arms.is_none().then(|| detected_view(detection));
    let preamble = report::hunt::preamble(detected.as_ref(), &notes, &labels);
    Ok((parts, preamble))
}

/// The part of one arm (None: nothing of it can apply on this machine); warns about what of
/// it cannot reach the program.
fn arm_part(text: &str, detection: &Detection) -> Result<Option<Part>> {
    if text == PLAIN {
        return Ok(Some(Part {
            label: text.to_string(),
            shake: None,
        }));
    }
    let mut shake = Shake::parse(text).map_err(|error| arm_error(text, &error))?;
    for warning in shake.preflight() {
        eprintln!("flakehunt: warning: arm {text}: {warning}");
    }
    let unreachable = unreachable_knobs(&shake, detection.reach());
    if !unreachable.is_empty() {
        eprintln!(
            "flakehunt: warning: arm {text}: {} cannot reach {} ({}); kept because it was listed",
            unreachable.join(", "),
            detection.runtime,
            detection.basis
        );
    }
    if shake.is_plain() {
        return Ok(None);
    }
    Ok(Some(Part {
        label: text.to_string(),
        shake: Some(Arc::new(shake)),
    }))
}

/// Words meaning "no shake" that a user may write for the plain arm.
const PLAIN_WORDS: [&str; 5] = [PLAIN, "none", "baseline", "default", "off"];

/// The error for an arm that is not a valid shake recipe: which item of the arm is wrong,
/// marked under the arm, and, when the arm reads like several arms joined with `,`, the same
/// list written with `;` between arms.
fn arm_error(text: &str, error: &crate::shake::ShakeError) -> anyhow::Error {
    let mut message = format!(
        "--arms: arm '{text}': item {} '{}': {}",
        error.position, error.item, error.message
    );
    // Underline the item within the arm (items are the comma-separated pieces, trimmed).
    let mut start = 0;
    for (index, piece) in text.split(',').enumerate() {
        if index + 1 == error.position {
            let lead = piece.len() - piece.trim_start().len();
            let before = text[..start + lead].chars().count();
            let width = piece.trim().chars().count().max(1);
            message.push_str(&format!(
                "\n  arm: {text}\n       {}{}",
                " ".repeat(before),
                "^".repeat(width)
            ));
            break;
        }
        start += piece.len() + 1;
    }
    if let Some(arms) = as_arm_list(text) {
        message.push_str(&format!(
            "\n  hint: ',' joins shakes within one arm and ';' separates arms; \
             for {} arms, write '{arms}'",
            arms.split(';').count()
        ));
    }
    anyhow!(message)
}

/// `text` rewritten as a `;`-separated list of arms if it reads like one mistakenly joined with
/// `,`: two or more items, of which one names the plain arm, or each is an arm on its own, or
/// one shake appears twice.
fn as_arm_list(text: &str) -> Option<String> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.len() < 2 || items.iter().any(|item| item.is_empty()) {
        return None;
    }
    let is_plain = |item: &str| PLAIN_WORDS.contains(&item.to_ascii_lowercase().as_str());
    let names: Vec<&str> = items
        .iter()
        .map(|item| item.split_once('=').map_or(*item, |(name, _)| name.trim()))
        .collect();
    let repeated = names
        .iter()
        .enumerate()
        .any(|(i, name)| names[..i].contains(name));
    let list = items.iter().any(|item| is_plain(item))
        || repeated
        || items.iter().all(|item| Shake::parse(item).is_ok());
    list.then(|| {
        items
            .iter()
            .map(|item| if is_plain(item) { PLAIN } else { item })
            .collect::<Vec<_>>()
            .join(";")
    })
}

fn detected_view(detection: &Detection) -> Detected {
    Detected {
        program: detection.program.display().to_string(),
        runtime: detection.runtime.to_string(),
        basis: detection.basis.clone(),
    }
}

/// Steers the hunt's campaign: each run's arm from the bandit's batches, each finished run's
/// outcome and cost back to it, and the campaign's end once the bandit has learnt enough.
struct Hunter {
    bandit: Bandit,
    labels: Vec<String>,
    /// Runs in parallel: a run's slot time over this is what it cost the hunt.
    jobs: f64,
    started: Option<Instant>,
    /// The current batch's arm and the runs still to hand out.
    batch: Option<(ArmId, u64)>,
    /// When each run in flight was handed out.
    handed_out: HashMap<u64, Instant>,
    /// Lines for the user (none with `--quiet`), and when the last one was said.
    messages: Vec<String>,
    talk: bool,
    last_said: Option<Instant>,
}

impl Hunter {
    fn new(bandit: Bandit, labels: Vec<String>) -> Hunter {
        Hunter {
            bandit,
            labels,
            jobs: 1.0,
            started: None,
            batch: None,
            handed_out: HashMap::new(),
            messages: Vec::new(),
            talk: true,
            last_said: None,
        }
    }

    fn spent(&self) -> Duration {
        self.started.map(|at| at.elapsed()).unwrap_or_default()
    }

    fn target(&self) -> u64 {
        self.bandit.policy().failures
    }

    fn say(&mut self, line: String) {
        if self.talk {
            self.messages.push(line);
            self.last_said = Some(Instant::now());
        }
    }

    /// A status line when the hunt has said nothing for a while.
    fn status_if_quiet(&mut self) {
        if self.last_said.is_some_and(|at| at.elapsed() < STATUS_EVERY) {
            return;
        }
        if self.last_said.is_none() {
            self.last_said = Some(Instant::now());
            return;
        }
        let leader = self
            .bandit
            .arms()
            .iter()
            .filter(|arm| arm.failures > 0)
            .max_by_key(|arm| arm.failures)
            .map(|arm| (arm.shake.as_str(), arm.failures));
        let line = report::hunt::status_line(self.spent(), self.bandit.total_runs(), leader);
        self.say(line);
    }

    /// The lines a finished run of `arm` calls for: a failure of the search, its end.
    fn narrate(&mut self, arm: ArmId, failed: bool, before: Phase, after: Phase) {
        if before != Phase::Search {
            return;
        }
        let spent = self.spent();
        let target = self.target();
        if failed {
            let failures = self.bandit.arms().iter().map(|a| a.failures).sum();
            let line = report::hunt::failure_line(&self.labels[arm], failures, target, spent);
            self.say(line);
        }
        if let Some(end) = self.bandit.search_end() {
            let confirming = matches!(after, Phase::Confirm { .. });
            let winner = &self.labels[end.arm];
            let line = report::hunt::search_over_line(winner, target, spent, confirming);
            self.say(line);
        }
    }
}

impl Steering for Hunter {
    fn plan(&mut self, index: u64) -> Plan {
        let now = Instant::now();
        self.started.get_or_insert(now);
        let (arm, left) = match self.batch {
            Some((arm, left)) if left > 0 => (arm, left),
            _ => match self.bandit.next_batch() {
                Some(batch) => (batch.arm, batch.runs),
                None => return Plan::Wait,
            },
        };
        self.batch = Some((arm, left - 1));
        self.handed_out.insert(index, now);
        self.status_if_quiet();
        Plan::Run(RunPlan {
            part: arm,
            delay: None,
        })
    }

    fn finished(&mut self, run: &FinishedRun) -> Flow {
        let record = &run.record;
        let slot = match self.handed_out.remove(&record.index) {
            Some(at) => at.elapsed(),
            None => record.duration,
        };
        let failed = record.verdict.is_failure();
        let signature = run
            .signature
            .as_ref()
            .filter(|_| failed)
            .map(|s| (s.id.clone(), s.text.clone()));
        let outcome = RunOutcome {
            failed,
            signature,
            cost: slot.div_f64(self.jobs),
        };
        let arm = record.part.min(self.labels.len().saturating_sub(1));
        let before = self.bandit.phase();
        let after = self.bandit.record(arm, outcome, self.spent());
        self.narrate(arm, failed, before, after);
        if after == Phase::Done {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> HuntRequest {
        HuntRequest {
            campaign: CampaignRequest::new(vec!["true".into()]),
            failures: 3,
            budget: Budget::Time(Duration::from_secs(60)),
            arms: None,
            batch: None,
            confirm: 0.2,
            quiet: true,
        }
    }

    fn refused(change: impl FnOnce(&mut HuntRequest)) -> String {
        let mut request = request();
        change(&mut request);
        match policy(&request) {
            Ok(policy) => panic!("accepted: {policy:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn the_policy_follows_the_request() {
        let policy = policy(&request()).expect("valid");
        assert_eq!(policy.failures, 3);
        assert_eq!(policy.budget, Budget::Time(Duration::from_secs(60)));
        assert!(matches!(policy.batch, BatchSize::Span { span, .. } if span == BATCH_SPAN));
        let mut fixed = request();
        fixed.batch = Some(7);
        assert_eq!(
            super::policy(&fixed).expect("valid").batch,
            BatchSize::Fixed(7)
        );
    }

    #[test]
    fn what_the_hunt_decides_itself_is_refused() {
        assert!(refused(|r| r.failures = 0).contains("--failures"));
        assert!(refused(|r| r.campaign.stop.runs = Some(10)).contains("--budget"));
        assert!(
            refused(|r| r.campaign.stop.duration = Some(Duration::from_secs(1)))
                .contains("--budget")
        );
        assert!(refused(|r| r.campaign.stop.max_failures = Some(1)).contains("--failures"));
        assert!(refused(|r| r.campaign.shake = Some("noise".into())).contains("--arms"));
        assert!(refused(|r| r.confirm = 1.0).contains("--confirm"));
        assert!(refused(|r| r.confirm = -0.1).contains("--confirm"));
        assert!(refused(|r| r.batch = Some(0)).contains("--batch"));
    }

    #[test]
    fn listed_arms_become_parts_and_bad_ones_are_named() {
        let detection = detect(Path::new("/bin/true"), &[]);
        let (parts, preamble) =
            choose_arms(Some("plain; jitter=1ms ;;"), &detection).expect("valid arms");
        let labels: Vec<&str> = parts.iter().map(|part| part.label.as_str()).collect();
        assert_eq!(labels, ["plain", "jitter=1ms"]);
        assert!(parts[0].shake.is_none() && parts[1].shake.is_some());
        assert!(preamble.contains("plain; jitter=1ms"), "{preamble}");
        let error = choose_arms(Some("plain;bogus=1"), &detection).expect_err("bad arm");
        assert!(error.to_string().contains("arm 'bogus=1'"), "{error}");
        assert!(choose_arms(Some(" ; "), &detection).is_err());
    }

    #[test]
    fn arm_errors_point_at_the_item_and_suggest_semicolons() {
        let detection = detect(Path::new("/bin/true"), &[]);
        let messages: Vec<String> = [
            "none,nice",
            "nice=5, nice=10",
            "pin=one-core,jitter=1ms,bogus",
            "jitter=1ms, slice=oops",
        ]
        .iter()
        .map(|arms| {
            let error = choose_arms(Some(arms), &detection).expect_err("bad arm");
            format!("--arms '{arms}'\n{error}")
        })
        .collect();
        insta::assert_snapshot!(messages.join("\n\n"));
    }
}
