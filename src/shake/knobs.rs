//! The arms a hunt tries when none are given: plain, then the perturbations most likely to pay
//! for their cost first (the runtime's own knobs when the runtime is known, preload noise,
//! competing load, freezes), then the rest. Knobs that cannot reach the program are left out,
//! and said so.

use crate::shake::detect::{Detection, Reach, Runtime};
use crate::shake::Shake;

/// The default arms for a program, and what was left out and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultArms {
    /// Arms in the order the hunt tries them (`plain` first).
    pub arms: Vec<String>,
    /// One line per kind of arm left out, with the reason.
    pub skipped: Vec<String>,
}

/// The default arms on a machine with `cpus` CPUs for the program `detection` describes;
/// `noise_available` says whether this build has the preload library.
pub fn default_arms(cpus: usize, detection: &Detection, noise_available: bool) -> DefaultArms {
    let cpus = cpus.max(1);
    let reach = detection.reach();
    let mut arms = vec!["plain".to_string()];
    let mut skipped = Vec::new();
    match detection.runtime {
        Runtime::Python => {
            arms.push("py-switch=1us".into());
            arms.push(format!("cpu-load={cpus},py-switch=1us"));
        }
        Runtime::Go => {
            arms.push("go-procs=1".into());
            arms.push("go-debug=asyncpreemptoff=1".into());
            arms.push("go-gc=1".into());
        }
        _ => {}
    }
    // Cheap, broad perturbations before the costly ones: exploring is paid for in time.
    let noise = match (reach.preload, noise_available) {
        (true, true) => true,
        (true, false) => {
            skipped.push("noise: this build has no preload library".into());
            false
        }
        (false, _) => {
            skipped.push(format!("noise: {}", why_no_preload(&detection.runtime)));
            false
        }
    };
    if noise {
        arms.push("noise=0.05".into());
    }
    arms.push(format!("cpu-load={cpus}"));
    if detection.runtime == Runtime::Unknown {
        // Each knob only affects its own runtime, so one arm tries them all.
        arms.push("go-procs=1,go-gc=10,py-switch=1us".into());
    }
    if noise {
        arms.push("pin=one-core,noise=0.05".into());
    }
    arms.push(format!("nice=19,cpu-load={cpus}"));
    arms.push("freeze=1ms..20ms@5ms".into());
    arms.push("pin=one-core,cpu-load=1".into());
    // Half-duty load: under full load an idle-class run starves (a run takes minutes).
    arms.push(format!("sched=idle,cpu-load={cpus}:50"));
    if !reach.go {
        skipped.push("go-procs, go-gc, go-debug: not a Go program".into());
    }
    if !reach.python {
        skipped.push("py-switch: not a Python program".into());
    }
    arms.push("pin=one-core".into());
    arms.push("jitter=1ms".into());
    arms.push(format!(
        "mem-load=1,cpu-load={}",
        cpus.saturating_sub(1).max(1)
    ));
    DefaultArms { arms, skipped }
}

fn why_no_preload(runtime: &Runtime) -> &'static str {
    match runtime {
        Runtime::Go => "Go makes its system calls without the C library",
        _ => "statically linked programs ignore LD_PRELOAD",
    }
}

/// The knobs of `shake` that cannot reach a program with `reach` (empty when all can).
pub fn unreachable_knobs(shake: &Shake, reach: Reach) -> Vec<&'static str> {
    let mut knobs = Vec::new();
    if !reach.go {
        for (key, _) in &shake.env {
            match key.as_str() {
                "GOMAXPROCS" => knobs.push("go-procs"),
                "GOGC" => knobs.push("go-gc"),
                "GODEBUG" => knobs.push("go-debug"),
                _ => {}
            }
        }
    }
    if !reach.python && shake.py_switch.is_some() {
        knobs.push("py-switch");
    }
    if !reach.preload && shake.noise.is_some() {
        knobs.push("noise");
    }
    knobs
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn detected(runtime: Runtime) -> Detection {
        Detection {
            program: PathBuf::from("/x"),
            runtime,
            basis: String::new(),
        }
    }

    fn knobs_in(arms: &[String]) -> (bool, bool, bool) {
        let has = |needle: &str| arms.iter().any(|arm| arm.contains(needle));
        (has("go-"), has("py-switch"), has("noise"))
    }

    #[test]
    fn every_default_arm_parses_and_plain_comes_first() {
        for runtime in [
            Runtime::Go,
            Runtime::Python,
            Runtime::Unknown,
            Runtime::Native {
                rust: true,
                static_linked: true,
            },
        ] {
            let arms = default_arms(2, &detected(runtime.clone()), true).arms;
            assert_eq!(arms[0], "plain");
            for arm in &arms[1..] {
                let shake = Shake::parse(arm).unwrap_or_else(|e| panic!("{arm}: {e}"));
                assert!(unreachable_knobs(&shake, detected(runtime.clone()).reach()).is_empty());
            }
            let unique: std::collections::BTreeSet<_> = arms.iter().collect();
            assert_eq!(unique.len(), arms.len(), "{arms:?}");
        }
    }

    #[test]
    fn knobs_follow_the_runtime() {
        let go = default_arms(4, &detected(Runtime::Go), true);
        assert_eq!(knobs_in(&go.arms), (true, false, false));
        assert_eq!(go.arms[1], "go-procs=1", "the runtime's knobs go first");
        assert_eq!(go.skipped.len(), 2, "{:?}", go.skipped);
        let python = default_arms(4, &detected(Runtime::Python), true);
        assert_eq!(knobs_in(&python.arms), (false, true, true));
        assert_eq!(python.arms[1], "py-switch=1us");
        let unknown = default_arms(4, &detected(Runtime::Unknown), true);
        assert_eq!(knobs_in(&unknown.arms), (true, true, true));
        assert!(unknown.skipped.is_empty());
        // One arm carries every runtime's knobs.
        assert_eq!(unknown.arms.iter().filter(|a| a.contains("go-")).count(), 1);
        let native = default_arms(
            4,
            &detected(Runtime::Native {
                rust: false,
                static_linked: false,
            }),
            false,
        );
        assert_eq!(knobs_in(&native.arms), (false, false, false));
        assert!(native
            .skipped
            .iter()
            .any(|s| s.contains("no preload library")));
    }

    #[test]
    fn unreachable_knobs_are_named() {
        let shake = Shake::parse("go-procs=1,py-switch=1us,noise,pin=one-core").expect("valid");
        let reach = detected(Runtime::Go).reach();
        assert_eq!(unreachable_knobs(&shake, reach), ["py-switch", "noise"]);
        let reach = detected(Runtime::Unknown).reach();
        assert!(unreachable_knobs(&shake, reach).is_empty());
    }
}
