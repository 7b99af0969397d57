//! The sample sink of a window sweep: turns each finished run into a sample of the delay it
//! asked for, the delay it measured and whether it failed, for the window estimator.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::analysis::summary::Tally;
use crate::analysis::window::SweepSample;
use crate::record::{FinishedRun, ScriptEvent};
use crate::sink::Sink;
use crate::spec::Sweep;

/// Samples gathered so far, shared between the sinks of a sweep's phases and their caller.
pub type Samples = Rc<RefCell<Vec<SweepSample>>>;

/// Collects one sample per run of a sweep; runs beyond the sweep's delays are not sampled.
#[derive(Debug)]
pub struct SampleSink {
    samples: Samples,
    delays: Arc<Vec<Duration>>,
    step: usize,
}

impl SampleSink {
    /// A sink adding the runs of `sweep` to `samples`.
    pub fn new(sweep: &Sweep, samples: Samples) -> SampleSink {
        SampleSink {
            samples,
            delays: sweep.delays.clone(),
            step: sweep.step,
        }
    }
}

impl Sink for SampleSink {
    fn run_finished(&mut self, run: &FinishedRun, _tally: &Tally) -> Result<()> {
        let record = &run.record;
        let Some(requested) = self.delays.get(record.index as usize) else {
            return Ok(());
        };
        let requested_s = requested.as_secs_f64();
        self.samples.borrow_mut().push(SweepSample {
            requested_s,
            achieved_s: measured_delay(&record.script_events, self.step, requested_s),
            failed: record.verdict.is_failure(),
        });
        Ok(())
    }
}

/// The delay a run really had at the swept `step`, seconds: from the last event before the
/// step to the first one after it (the signal), or to the end of the sleep if nothing
/// followed; `requested_s` if the run never got there.
pub fn measured_delay(events: &[ScriptEvent], step: usize, requested_s: f64) -> f64 {
    let before = events
        .iter()
        .rev()
        .find(|e| e.step < step)
        .map_or(0.0, |e| e.at_s);
    let after = events
        .iter()
        .find(|e| e.step > step)
        .or_else(|| events.iter().find(|e| e.step == step))
        .map(|e| e.at_s);
    after.map_or(requested_s, |at| (at - before).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FailureKind, OutputDigest, RunRecord, Termination, Verdict};

    fn event(step: usize, at_s: f64) -> ScriptEvent {
        ScriptEvent {
            step,
            what: format!("step {step}"),
            at_s,
            since_previous_s: 0.0,
        }
    }

    fn finished(index: u64, verdict: Verdict, script_events: Vec<ScriptEvent>) -> FinishedRun {
        FinishedRun {
            record: RunRecord {
                index,
                pid: 1,
                started_at: std::time::SystemTime::UNIX_EPOCH,
                duration: Duration::from_millis(5),
                termination: Termination::Exited { code: 0 },
                verdict,
                digest: OutputDigest::default(),
                output: None,
                leaked_pipes: false,
                script_events,
                script_failure: None,
                seed: None,
                stacks: None,
            },
            signature: None,
            saved: None,
            tests: Vec::new(),
        }
    }

    #[test]
    fn the_delay_runs_from_the_step_before_to_the_step_after() {
        // wait-output at 1s, sleep (step 1), signal at 1.25s.
        let events = [event(0, 1.0), event(1, 1.2), event(2, 1.25)];
        assert!((measured_delay(&events, 1, 0.2) - 0.25).abs() < 1e-12);
        // Nothing after the sleep: up to its end. Nothing before: from the spawn.
        assert!((measured_delay(&events[..2], 1, 0.1) - 0.2).abs() < 1e-12);
        assert!((measured_delay(&events[1..], 1, 0.1) - 1.25).abs() < 1e-12);
        // The run died before the sleep: the requested delay stands.
        assert_eq!(measured_delay(&events[..1], 1, 0.1), 0.1);
        assert_eq!(measured_delay(&[], 1, 0.1), 0.1);
    }

    #[test]
    fn runs_of_the_sweep_become_samples() {
        let sweep = Sweep {
            step: 1,
            delays: Arc::new(vec![Duration::from_millis(2), Duration::from_millis(4)]),
        };
        let samples = Samples::default();
        let mut sink = SampleSink::new(&sweep, samples.clone());
        let tally = Tally::new();
        let events = vec![event(0, 0.5), event(1, 0.502), event(2, 0.503)];
        sink.run_finished(&finished(1, Verdict::Pass, events.clone()), &tally)
            .expect("sample");
        sink.run_finished(
            &finished(0, Verdict::Fail(FailureKind::Signal), events),
            &tally,
        )
        .expect("sample");
        // Index 2 lies beyond the sweep's delays: not sampled.
        sink.run_finished(&finished(2, Verdict::Pass, Vec::new()), &tally)
            .expect("skip");
        let samples = samples.borrow();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].requested_s, 0.004);
        assert!(!samples[0].failed);
        assert!((samples[0].achieved_s - 0.003).abs() < 1e-9);
        assert_eq!(samples[1].requested_s, 0.002);
        assert!(samples[1].failed);
    }
}
