//! `flakehunt hunt --shard K/N --export FILE`: one arm of a hunt split across machines. Shard
//! K runs the K-th of the N `--arms` for the whole `--budget`, as a campaign of its own, and
//! exports it as a bundle labelled with its arm; `flakehunt merge` compares the arms.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::analysis::hunt::{Budget, PLAIN};
use crate::bundle::HuntArm;
use crate::cli::hunt::HuntArgs;
use crate::cli::run::{exit_status, print_summary};

/// Run this shard's arm and export it.
pub fn execute(args: &HuntArgs, db: &Path) -> Result<i32> {
    let run = &args.run;
    let (Some(shard), Some(export)) = (run.shard, run.export.as_deref()) else {
        bail!(
            "a hunt split across machines needs both --shard K/N (one arm per shard) and \
             --export FILE (the arm's bundle, for `flakehunt merge`)"
        );
    };
    let hunt = run.campaign_id.clone().ok_or_else(|| {
        anyhow!("hunt --shard needs --campaign-id ID, the same for every arm, so merge knows them for one hunt")
    })?;
    if run.runs.is_some() || run.duration.is_some() || run.max_failures.is_some() {
        bail!("each arm runs for the whole --budget; use --budget instead of -n/--duration/--max-failures");
    }
    if run.shake.is_some() {
        bail!("hunt tries shakes itself; list them with --arms instead of --shake");
    }
    if run.report.is_some() {
        bail!("--report is written by `flakehunt merge` of the arms, not by one arm");
    }
    let arms = arm_list(args.arms.as_deref(), shard.count)?;
    let number = shard.number;
    let arm = arms[(number - 1) as usize].clone();
    let mut arm_run = run.clone();
    arm_run.shard = None;
    arm_run.export = None;
    arm_run.campaign_id = Some(format!("{hunt}-arm{number}"));
    arm_run.shake = (arm != PLAIN).then(|| arm.clone());
    match crate::cli::parse_budget(&args.budget)? {
        Budget::Runs(runs) => arm_run.runs = Some(runs),
        Budget::Time(limit) => arm_run.duration = Some(limit),
    }
    let prepared = crate::campaign::prepare(&arm_run.request(), db)?;
    let label = HuntArm {
        hunt,
        arm,
        number,
        arms,
    };
    eprintln!(
        "flakehunt: hunt {}: shard {number}/{} runs arm '{}'",
        label.hunt, shard.count, label.arm
    );
    let sink = crate::cli::merge::export_sink(&prepared, arm_run.runs, export, Some(label))?;
    let result = crate::campaign::launch(&prepared, vec![sink])?;
    let status = exit_status(&result);
    print_summary(&result, run.json)?;
    Ok(status)
}

/// The `--arms` list, one per shard.
fn arm_list(arms: Option<&str>, shards: u64) -> Result<Vec<String>> {
    let arms = arms.ok_or_else(|| {
        anyhow!("hunt --shard K/N needs --arms with N arms: shard K runs the K-th, e.g. --arms 'plain;cpu-load=2'")
    })?;
    let list: Vec<String> = arms
        .split(';')
        .map(str::trim)
        .filter(|arm| !arm.is_empty())
        .map(str::to_string)
        .collect();
    if list.len() as u64 != shards {
        bail!(
            "--shard K/{shards} with {} arm(s) in --arms: a split hunt has one shard per arm",
            list.len()
        );
    }
    if let Some(twice) = list
        .iter()
        .enumerate()
        .find_map(|(i, arm)| list[..i].contains(arm).then_some(arm))
    {
        bail!("--arms names '{twice}' twice");
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arm_per_shard() {
        assert_eq!(
            arm_list(Some(" plain ; cpu-load=2;"), 2).expect("arms"),
            ["plain", "cpu-load=2"]
        );
        assert!(arm_list(Some("plain;cpu-load=2"), 3).is_err());
        assert!(arm_list(Some("plain;plain"), 2).is_err());
        assert!(arm_list(None, 2).is_err());
    }
}
