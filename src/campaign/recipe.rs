//! The `flakehunt run` arguments that repeat a campaign exactly (`flakehunt rerun`): every
//! option that shapes its runs, resolved where the history could change it (`--shake best`, a
//! relative `--cwd` or `--script`), and the command as typed.

use std::ffi::OsStr;
use std::time::Duration;

use crate::campaign::CampaignRequest;
use crate::spec::{CampaignKind, CampaignSpec, OnTimeout};
use crate::target::TargetRequest;

/// The arguments, or nothing for a campaign that a plain `run` cannot repeat (a hunt's arms, a
/// window's sweep, a bisection's probe, the demo) or whose command is not valid UTF-8.
pub fn recipe(request: &CampaignRequest, spec: &CampaignSpec) -> Vec<String> {
    if !matches!(request.kind, CampaignKind::Run | CampaignKind::Verify) {
        return Vec::new();
    }
    let mut args = Recipe(Vec::new());
    args.push("--jobs", spec.jobs);
    if let Some(runs) = request.stop.runs {
        args.push("--runs", runs);
    }
    if let Some(duration) = request.stop.duration {
        args.push("--duration", duration_text(duration));
    }
    if let Some(failures) = request.stop.max_failures {
        args.push("--max-failures", failures);
    }
    timeouts(&mut args, spec);
    if let Some(regex) = &request.fail_if {
        args.push("--fail-if", regex);
    }
    if let Some(regex) = &request.ignore {
        args.push("--ignore", regex);
    }
    for (key, value) in &request.env {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            return Vec::new();
        };
        args.push("--env", format!("{key}={value}"));
    }
    // Where the runs ran: a relative command or test target is found again from anywhere.
    let cwd = spec.cwd.clone().or_else(|| std::env::current_dir().ok());
    if let Some(cwd) = cwd.as_ref().and_then(|dir| dir.to_str()) {
        args.push("--cwd", cwd);
    }
    if request.keep_passing {
        args.flag("--keep-passing");
    }
    for step in &request.steps {
        args.push("--step", step);
    }
    if let Some(script) = &request.script {
        let script = std::path::absolute(script).unwrap_or_else(|_| script.clone());
        args.push("--script", script.display());
    }
    if let Some(shake) = &spec.shake {
        args.push("--shake", shake);
    }
    if let Some(seed) = request.seed {
        args.push("--seed", seed);
    }
    if !request.stacks {
        args.flag("--no-stacks");
    }
    target(&mut args, request);
    if !request.command.is_empty() {
        args.flag("--");
        for word in &request.command {
            let Some(word) = OsStr::to_str(word) else {
                return Vec::new();
            };
            args.flag(word);
        }
    }
    args.0
}

/// Arguments being collected.
struct Recipe(Vec<String>);

impl Recipe {
    /// `--flag=value`: one word, so a value that starts with `-` stays a value.
    fn push(&mut self, flag: &str, value: impl std::fmt::Display) {
        self.0.push(format!("{flag}={value}"));
    }

    fn flag(&mut self, flag: &str) {
        self.0.push(flag.to_string());
    }
}

fn duration_text(duration: Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .replace(' ', "")
}

fn timeouts(args: &mut Recipe, spec: &CampaignSpec) {
    args.push("--timeout", duration_text(spec.timeout.limit));
    args.push(
        "--timeout-signal",
        crate::os::signal::signal_name(spec.timeout.signal),
    );
    args.push("--grace", duration_text(spec.timeout.grace));
    if spec.timeout.action == OnTimeout::Keep {
        args.push("--on-timeout", "keep");
    }
}

fn target(args: &mut Recipe, request: &CampaignRequest) {
    match &request.target {
        Some(TargetRequest::Cargo {
            name,
            package,
            features,
        }) => {
            args.push("--cargo-test", name);
            if let Some(package) = package {
                args.push("--package", package);
            }
            if let Some(features) = features {
                args.push("--features", features);
            }
        }
        Some(TargetRequest::Go {
            package,
            name,
            race,
        }) => {
            args.push("--go-test", package);
            args.push("--go-run", name);
            if *race {
                args.flag("--race");
            }
        }
        Some(TargetRequest::Pytest { node_id }) => args.push("--pytest", node_id),
        Some(TargetRequest::Auto { name }) => args.push("--test", name),
        None => {}
    }
    if let Some(kind) = request.suite {
        args.push("--suite", kind.as_str());
    }
}
