//! The culprit search against a simulated oracle with a known culprit and rate, and a naive
//! bisection with N reruns per step for comparison. Seeded, so every trial replays exactly.

use serde::Serialize;

use super::{Decision, Policy, RatePrior, Search, SearchError, Strategy};

/// A small, fast generator whose stream is fixed forever (SplitMix64), so a seed names the
/// same trial in every version, unlike a library generator that may change its algorithm.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        low + (self.next_u64() % (high - low + 1) as u64) as usize
    }
}

/// One simulated bisection problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Commits after the good one (the last is the bad one).
    pub commits: usize,
    /// The commit that introduces the failure (1..=commits); None: drawn per trial.
    pub culprit: Option<usize>,
    /// The failure's rate from the culprit on.
    pub rate: f64,
    /// Rate of failures of another signature, at every commit.
    pub background: f64,
    /// Commits (drawn per trial, never the culprit or the one before it) that cannot be tested.
    pub untestable: usize,
    /// Confidence at which the search stops.
    pub confidence: f64,
    /// Most runs one trial may spend.
    pub budget: u64,
    /// The search is told the rate (`--rate R`); otherwise it measures it first (`--rate auto`).
    pub rate_known: bool,
    /// With the rate unknown: failures at the bad commit measured first.
    pub measure_failures: u64,
    /// Where probes go.
    pub strategy: Strategy,
}

/// How one trial ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    /// The true culprit.
    pub culprit: usize,
    /// The commit named at the end, if any.
    pub found: Option<usize>,
    /// Runs spent.
    pub runs: u64,
    /// Probes (batches at one commit).
    pub probes: u64,
}

/// Many trials summed up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tally {
    /// Trials run.
    pub trials: u64,
    /// Trials that named the true culprit.
    pub correct: u64,
    /// Trials that named another commit.
    pub wrong: u64,
    /// Trials that named none (budget spent, or ambiguous).
    pub undecided: u64,
    /// Mean runs per trial.
    pub mean_runs: f64,
    /// Most runs any trial took.
    pub max_runs: u64,
    /// Mean probes per trial.
    pub mean_probes: f64,
}

impl Tally {
    /// Share of trials that named the true culprit.
    pub fn accuracy(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.correct as f64 / self.trials as f64
        }
    }

    fn of(trials: &[Trial]) -> Tally {
        let n = trials.len().max(1) as f64;
        Tally {
            trials: trials.len() as u64,
            correct: trials.iter().filter(|t| t.found == Some(t.culprit)).count() as u64,
            wrong: trials
                .iter()
                .filter(|t| t.found.is_some_and(|f| f != t.culprit))
                .count() as u64,
            undecided: trials.iter().filter(|t| t.found.is_none()).count() as u64,
            mean_runs: trials.iter().map(|t| t.runs as f64).sum::<f64>() / n,
            max_runs: trials.iter().map(|t| t.runs).max().unwrap_or(0),
            mean_probes: trials.iter().map(|t| t.probes as f64).sum::<f64>() / n,
        }
    }
}

/// The hidden truth of one trial and the runs it answers.
struct Oracle {
    culprit: usize,
    untestable: Vec<bool>,
    rate: f64,
    background: f64,
    rng: Rng,
}

impl Oracle {
    fn new(scenario: &Scenario, seed: u64) -> Oracle {
        // The setup and the runs draw from separate streams, so both searches face the same
        // culprit and untestable commits for a seed.
        let mut setup = Rng::new(seed);
        let culprit = scenario
            .culprit
            .unwrap_or_else(|| setup.between(1, scenario.commits));
        let mut untestable = vec![false; scenario.commits + 1];
        let eligible: Vec<usize> = (1..scenario.commits)
            .filter(|&k| k != culprit && k + 1 != culprit)
            .collect();
        let mut wanted = scenario.untestable.min(eligible.len());
        while wanted > 0 {
            let k = eligible[setup.between(0, eligible.len() - 1)];
            if !untestable[k] {
                untestable[k] = true;
                wanted -= 1;
            }
        }
        Oracle {
            culprit,
            untestable,
            rate: scenario.rate,
            background: scenario.background,
            rng: Rng::new(seed ^ 0x5eed_0f0a_c1e5),
        }
    }

    /// Up to `runs` runs at `commit`, stopping at the first target failure: (target
    /// failures, clean runs, runs spent).
    fn batch(&mut self, commit: usize, runs: u64) -> (u64, u64, u64) {
        let mut clean = 0;
        for spent in 1..=runs {
            if self.rng.uniform() < self.background {
                continue;
            }
            if commit >= self.culprit && self.rng.uniform() < self.rate {
                return (1, clean, spent);
            }
            clean += 1;
        }
        (0, clean, runs)
    }
}

/// The search of [`Search`] on one seeded trial.
pub fn search_trial(scenario: &Scenario, seed: u64) -> Result<Trial, SearchError> {
    let mut oracle = Oracle::new(scenario, seed);
    let (prior, measure_failures) = if scenario.rate_known {
        // As `flakehunt bisect --rate R` does: one failure at the bad commit checks the rate.
        (RatePrior::around(scenario.rate)?, 1)
    } else {
        (RatePrior::unknown(), scenario.measure_failures)
    };
    let policy = Policy {
        confidence: scenario.confidence,
        measure_failures,
        strategy: scenario.strategy,
    };
    let mut search = Search::new(scenario.commits + 1, None, prior, policy)?;
    let (mut runs, mut probes) = (0u64, 0u64);
    while let Some(probe) = search.next_probe(&[], Some(scenario.budget - runs)) {
        probes += 1;
        if oracle.untestable[probe.commit] {
            search.mark_untestable(probe.commit);
            continue;
        }
        let (failures, clean, spent) = oracle.batch(probe.commit, probe.runs);
        runs += spent;
        search.record(probe.commit, failures, clean);
    }
    let found = match search.decision() {
        Decision::Culprit { commit, .. } => Some(commit),
        Decision::Predates { .. } => Some(0),
        _ => None,
    };
    Ok(Trial {
        culprit: oracle.culprit,
        found,
        runs,
        probes,
    })
}

/// How naive bisection reruns each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Naive {
    /// Runs per step.
    pub reruns: u64,
    /// End a step at its first failure (a loop `for i in 1..N; do test || exit 1; done`);
    /// otherwise every step runs all N.
    pub stop_early: bool,
}

/// Naive bisection on one seeded trial: each step runs the midpoint `reruns` times and calls
/// it bad if the target signature failed (other failures are set aside, as flakehunt's
/// signatures allow), good otherwise; untestable midpoints are stepped around.
pub fn naive_trial(scenario: &Scenario, naive: Naive, seed: u64) -> Trial {
    let reruns = naive.reruns;
    let mut oracle = Oracle::new(scenario, seed);
    let (mut good, mut bad) = (0usize, scenario.commits);
    let (mut runs, mut probes) = (0u64, 0u64);
    let mut found = None;
    loop {
        if bad - good <= 1 {
            found = Some(bad);
            break;
        }
        let middle = (good + bad) / 2;
        let Some(mid) = (good + 1..bad)
            .filter(|&k| !oracle.untestable[k])
            .min_by_key(|k| k.abs_diff(middle))
        else {
            break; // only untestable commits are left between good and bad
        };
        let budget_left = scenario.budget - runs;
        if budget_left == 0 {
            break;
        }
        probes += 1;
        let (failures, _, spent) = oracle.batch(mid, reruns.min(budget_left));
        // Without the early stop the step spends all its reruns whatever happened.
        let spent = if naive.stop_early || spent == budget_left {
            spent
        } else {
            reruns.min(budget_left)
        };
        runs += spent;
        if failures > 0 {
            bad = mid;
        } else if spent < reruns.min(budget_left) || reruns > budget_left {
            break; // the budget ran out inside the step
        } else {
            good = mid;
        }
    }
    Trial {
        culprit: oracle.culprit,
        found,
        runs,
        probes,
    }
}

/// `trials` seeded trials of the search (seeds `seed..seed + trials`).
pub fn search_many(scenario: &Scenario, trials: u64, seed: u64) -> Result<Tally, SearchError> {
    let results = (0..trials)
        .map(|i| search_trial(scenario, seed.wrapping_add(i)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tally::of(&results))
}

/// `trials` seeded trials of naive bisection, on the same seeds as the search's.
pub fn naive_many(scenario: &Scenario, naive: Naive, trials: u64, seed: u64) -> Tally {
    let results: Vec<Trial> = (0..trials)
        .map(|i| naive_trial(scenario, naive, seed.wrapping_add(i)))
        .collect();
    Tally::of(&results)
}

/// The fewest reruns per step with which naive bisection names the culprit in at least
/// `accuracy` of the same trials, and its tally; None if even a huge number does not.
pub fn tune_naive(
    scenario: &Scenario,
    stop_early: bool,
    accuracy: f64,
    trials: u64,
    seed: u64,
) -> Option<(u64, Tally)> {
    let enough = |reruns: u64| {
        let naive = Naive { reruns, stop_early };
        let tally = naive_many(scenario, naive, trials, seed);
        (tally.accuracy() >= accuracy - 1e-12).then_some(tally)
    };
    // Double until it is accurate enough, then bisect between the last two.
    let mut high = 1u64;
    let mut best = loop {
        if let Some(tally) = enough(high) {
            break (high, tally);
        }
        if high > 1 << 40 {
            return None;
        }
        high *= 2;
    };
    let mut low = high / 2;
    while high - low > 1.max(high / 64) {
        let middle = low + (high - low) / 2;
        match enough(middle) {
            Some(tally) => {
                high = middle;
                best = (middle, tally);
            }
            None => low = middle,
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(rate: f64) -> Scenario {
        Scenario {
            commits: 64,
            culprit: None,
            rate,
            background: 0.0,
            untestable: 0,
            confidence: 0.99,
            budget: 10_000_000,
            rate_known: true,
            measure_failures: crate::analysis::bisect::DEFAULT_MEASURED_FAILURES,
            strategy: Strategy::Information,
        }
    }

    #[test]
    fn seeds_replay_and_differ() {
        let s = scenario(0.05);
        assert_eq!(search_trial(&s, 7), search_trial(&s, 7));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        let mut rng = Rng::new(3);
        assert!((0..1000).all(|_| (0.0..1.0).contains(&rng.uniform())));
    }

    #[test]
    fn the_search_finds_the_culprit_at_its_confidence() {
        let tally = search_many(&scenario(0.05), 200, 1000).expect("trials");
        assert!(tally.accuracy() >= 0.99, "{tally:?}");
        assert_eq!(tally.undecided, 0, "{tally:?}");
    }

    #[test]
    fn a_one_in_a_thousand_flake_is_found_in_a_reasonable_number_of_runs() {
        let tally = search_many(&scenario(0.001), 40, 2000).expect("trials");
        assert!(tally.accuracy() >= 0.975, "{tally:?}");
        // Naming one of 65 commits at 99% needs ~4.6/rate clean runs below the culprit and a
        // failure at it; a search that wandered would cost many times that.
        assert!(tally.mean_runs < 25_000.0, "{tally:?}");
    }

    #[test]
    fn unknown_rates_are_measured_first_and_background_failures_are_set_aside() {
        let s = Scenario {
            rate_known: false,
            background: 0.02,
            untestable: 3,
            ..scenario(0.05)
        };
        // The measured rate's uncertainty is in the likelihood, so the accuracy holds at the
        // confidence asked for (999 of these 1000 seeded trials).
        let tally = search_many(&s, 1000, 3000).expect("trials");
        assert!(tally.accuracy() >= 0.99, "{tally:?}");
        assert_eq!(tally.undecided, 0, "{tally:?}");
    }

    /// `--rate auto` at 1%: as accurate as asked, over 1000 trials (999 of them with these
    /// seeds; Jeffreys' prior on the rate, measured to 3 failures, named the culprit in 979).
    #[test]
    fn a_measured_rate_keeps_the_accuracy_at_the_confidence() {
        let s = Scenario {
            rate_known: false,
            ..scenario(0.01)
        };
        let tally = search_many(&s, 1000, 1).expect("trials");
        assert!(tally.accuracy() >= 0.99, "{tally:?}");
    }

    /// The check of the bisection's design: 64 commits, a random culprit, flake rates of 1%
    /// and 0.1%, with and without 2% background failures of another signature, 200 trials at
    /// 99%: the culprit is found in at least 99% of them, in at most half the runs of naive
    /// bisection rerunning each step N times, with N tuned to the same accuracy.
    #[test]
    fn the_search_beats_tuned_naive_bisection_at_one_percent_and_one_per_mille() {
        for rate in [0.01, 0.001] {
            for background in [0.0, 0.02] {
                let s = Scenario {
                    background,
                    ..scenario(rate)
                };
                let search = search_many(&s, 200, 1).expect("trials");
                assert!(search.accuracy() >= 0.99, "{rate} {background}: {search:?}");
                let (_, naive) = tune_naive(&s, false, search.accuracy(), 200, 1).expect("tuned");
                assert!(
                    search.mean_runs <= 0.5 * naive.mean_runs,
                    "{rate} {background}: {search:?} vs {naive:?}"
                );
            }
        }
    }

    #[test]
    fn naive_bisection_needs_reruns_to_be_accurate() {
        let s = scenario(0.05);
        let once = Naive {
            reruns: 1,
            stop_early: true,
        };
        assert!(naive_many(&s, once, 200, 1).accuracy() < 0.5);
        let (reruns, early) = tune_naive(&s, true, 0.99, 200, 1).expect("tuned");
        assert!(early.accuracy() >= 0.99);
        assert!((60..400).contains(&reruns), "{reruns}");
        // Running every rerun of every step costs more for the same accuracy.
        let (_, full) = tune_naive(&s, false, 0.99, 200, 1).expect("tuned");
        assert!(full.mean_runs > early.mean_runs, "{full:?} vs {early:?}");
    }

    #[test]
    fn the_budget_stops_a_trial_undecided() {
        let s = Scenario {
            budget: 50,
            ..scenario(0.001)
        };
        let trial = search_trial(&s, 5).expect("trial");
        assert!(trial.runs <= 50);
        assert_eq!(trial.found, None);
    }
}
