//! The bandit against a simulated oracle: arms whose failure rates and run times are known, so
//! every claim (the winner, the speedup's interval, the cost of exploring) can be checked
//! against the truth, reproducibly.

use super::*;

/// SplitMix64: a tiny, well-mixed generator, so that every simulated hunt is reproducible.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform on `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An arm whose behaviour is known: each run fails with each mode's rate (modes exclusive)
/// and costs `run_time` of wall time.
struct SimArm {
    shake: &'static str,
    modes: Vec<(&'static str, f64)>,
    run_time: Duration,
}

fn arm(shake: &'static str, rate: f64, run_ms: u64) -> SimArm {
    SimArm {
        shake,
        modes: vec![("fail", rate)],
        run_time: Duration::from_millis(run_ms),
    }
}

impl SimArm {
    /// True failures per second.
    fn per_second(&self) -> f64 {
        self.modes.iter().map(|(_, rate)| rate).sum::<f64>() / self.run_time.as_secs_f64()
    }
}

/// The simulated program under test.
struct Oracle {
    arms: Vec<SimArm>,
    rng: SplitMix64,
}

impl Oracle {
    fn new(arms: Vec<SimArm>, seed: u64) -> Oracle {
        Oracle {
            arms,
            rng: SplitMix64(seed),
        }
    }

    fn shakes(&self) -> Vec<String> {
        self.arms.iter().map(|arm| arm.shake.to_string()).collect()
    }

    fn run(&mut self, arm: ArmId) -> RunOutcome {
        let sim = &self.arms[arm];
        let draw = self.rng.unit();
        let mut cumulative = 0.0;
        let mut outcome = RunOutcome {
            cost: sim.run_time,
            ..RunOutcome::default()
        };
        for (id, rate) in &sim.modes {
            cumulative += rate;
            if draw < cumulative {
                outcome.failed = true;
                outcome.signature = Some((id.to_string(), format!("exit 1: {id}")));
                break;
            }
        }
        outcome
    }
}

/// A whole simulated hunt, run the way the campaign runs it: batch after batch, each run
/// recorded as it ends, the budget enforced from outside.
struct Hunt {
    bandit: Bandit,
    spent: Duration,
    batches: Vec<Batch>,
}

fn hunt(mut oracle: Oracle, policy: Policy) -> Hunt {
    let mut bandit = Bandit::new(oracle.shakes(), policy).expect("valid policy");
    let mut spent = Duration::ZERO;
    let mut batches = Vec::new();
    let within_budget = |bandit: &Bandit, spent: Duration| match policy.budget {
        Budget::Runs(limit) => bandit.total_runs() < limit,
        Budget::Time(limit) => spent < limit,
    };
    'hunt: while within_budget(&bandit, spent) {
        let Some(batch) = bandit.next_batch() else {
            break;
        };
        batches.push(batch);
        for _ in 0..batch.runs {
            if !within_budget(&bandit, spent) {
                break 'hunt;
            }
            let outcome = oracle.run(batch.arm);
            spent += outcome.cost;
            if bandit.record(batch.arm, outcome, spent) == Phase::Done {
                break 'hunt;
            }
        }
    }
    Hunt {
        bandit,
        spent,
        batches,
    }
}

fn policy(failures: u64, budget: Budget, batch: u64) -> Policy {
    Policy::new(failures, budget, BatchSize::Fixed(batch))
}

const SEEDS: [u64; 8] = [1, 2, 3, 5, 8, 13, 21, 34];

#[test]
fn the_arm_with_most_failures_per_second_wins_not_the_one_with_most_per_run() {
    for seed in SEEDS {
        let oracle = Oracle::new(
            vec![
                arm("plain", 0.0002, 10),
                // One run in five fails, but a run takes 200 ms: 1 failure per second.
                arm("cpu-load=2", 0.2, 200),
                // One in twenty, at 10 ms a run: 5 failures per second.
                arm("pin=one-core", 0.05, 10),
                arm("jitter=1ms", 0.0, 10),
            ],
            seed,
        );
        let rules = Policy::new(
            3,
            Budget::Time(Duration::from_secs(600)),
            BatchSize::Span {
                span: Duration::from_millis(200),
                min: 4,
            },
        );
        let done = hunt(oracle, rules);
        assert!(done.bandit.search_end().is_some(), "seed {seed}");
        // The search may end on a few lucky failures of the slow arm; the confirmation that
        // follows measures it against its rivals, and the best arm is the fastest.
        let outcome = done.bandit.outcome(false);
        assert_eq!(
            outcome.best.as_deref(),
            Some("pin=one-core"),
            "seed {seed}: {:?}",
            done.bandit.arms()
        );
        // Per run the slow arm looks four times better; per second it is five times worse.
        let (slow, fast) = (&outcome.arms[1], &outcome.arms[2]);
        if slow.runs > 0 {
            assert!(slow.per_second.low < fast.per_second.high, "seed {seed}");
        }
        // The slow arm got a few exploratory runs.
        assert!(outcome.arms[1].runs < outcome.arms[2].runs, "seed {seed}");
    }
}

#[test]
fn the_speedup_interval_covers_the_true_ratio() {
    // Plain: 1 failure per second; the perturbation: 5 per second (its runs are twice as slow
    // but fail ten times as often).
    let arms = || vec![arm("plain", 0.02, 20), arm("go-procs=1", 0.2, 40)];
    let truth = arms()[1].per_second() / arms()[0].per_second();
    assert!((truth - 5.0).abs() < 1e-9);
    let speedup = |seed: u64| {
        let oracle = Oracle::new(arms(), seed);
        let mut rules = policy(20, Budget::Time(Duration::from_secs(3600)), 25);
        rules.confirm = 0.5;
        let done = hunt(oracle, rules);
        let shaken = done.bandit.outcome(false).arms[1].clone();
        (
            shaken.speedup_low.expect("plain ran"),
            shaken.speedup_high.expect("plain ran"),
        )
    };
    // Calibration: the interval is exact given the failures' split; adaptive sampling aside,
    // it should miss the true ratio in about 5% of hunts at most.
    let covered = (100..300)
        .map(speedup)
        .filter(|(low, high)| *low <= truth && truth <= *high)
        .count();
    assert!(covered >= 186, "{covered} of 200");
}

#[test]
fn exploring_costs_at_most_its_share_when_no_perturbation_helps() {
    // Plain fails once a second; every perturbation makes runs slower and never fails.
    let arms = || {
        let mut arms = vec![arm("plain", 0.01, 10)];
        for (i, shake) in [
            "cpu-load=2",
            "nice=19,cpu-load=2",
            "freeze=1ms..20ms@5ms",
            "pin=one-core,cpu-load=1",
            "sched=idle,cpu-load=2",
            "noise=0.05",
            "pin=one-core,noise=0.05",
            "pin=one-core",
            "jitter=1ms",
            "mem-load=1,cpu-load=1",
        ]
        .into_iter()
        .enumerate()
        {
            arms.push(arm(shake, 0.0, 10 + 10 * i as u64));
        }
        arms
    };
    let failures = 5;
    let plain_alone = failures as f64 / 1.0;
    let seeds = 200;
    let mut total = 0.0;
    for seed in 0..seeds {
        let rules = Policy::new(
            failures,
            Budget::Time(Duration::from_secs(3600)),
            BatchSize::Span {
                span: Duration::from_millis(200),
                min: 4,
            },
        );
        let done = hunt(Oracle::new(arms(), seed), rules);
        let end = done.bandit.search_end().expect("plain reaches the target");
        assert_eq!(end.arm, 0, "seed {seed}");
        total += end.time_s;
        // Plain won: there is nothing to confirm.
        assert_eq!(done.bandit.phase(), Phase::Done);
    }
    let mean = total / seeds as f64;
    // At least 1 - explore (0.9) of plain's speed in expectation; 0.85 leaves room for chance.
    assert!(
        mean <= plain_alone / 0.85,
        "hunt took {mean:.2} s on average, plain alone {plain_alone:.2} s"
    );
}

#[test]
fn a_rare_plain_hands_over_to_an_arm_that_pays() {
    // Plain fails once in 5,000 runs (3 failures take 75 s); one arm in ten fails every tenth
    // run. The hunt must find it, however far down the list it is.
    let mut times = Vec::new();
    let mut won = 0;
    for seed in 0..16 {
        let mut arms = vec![arm("plain", 1.0 / 5000.0, 5)];
        for shake in ["pin=one-core", "jitter=1ms", "nice=5", "nice=10", "nice=15"] {
            arms.push(arm(shake, 0.0, 8));
        }
        arms.push(arm("cpu-load=2", 0.1, 10));
        for shake in ["sched=batch", "sched=idle", "pin=spread"] {
            arms.push(arm(shake, 0.0, 8));
        }
        let rules = Policy::new(
            3,
            Budget::Time(Duration::from_secs(3600)),
            BatchSize::Span {
                span: Duration::from_millis(200),
                min: 4,
            },
        );
        let done = hunt(Oracle::new(arms, seed), rules);
        let end = done.bandit.search_end().expect("target reached");
        won += usize::from(end.arm == 6);
        times.push(end.time_s);
    }
    // Plain may get lucky, rarely.
    assert!(won >= 14, "the paying arm won {won} of 16 hunts");
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    assert!(median < 75.0 / 5.0, "median {median:.1} s: {times:?}");
}

#[test]
fn the_confirmation_measures_only_the_winner_and_plain_and_is_bounded() {
    let mut plain_won = 0;
    for seed in SEEDS {
        let oracle = Oracle::new(
            vec![
                arm("plain", 0.002, 10),
                arm("nice=5", 0.0, 10),
                arm("cpu-load=2", 0.3, 20),
            ],
            seed,
        );
        let done = hunt(oracle, policy(3, Budget::Runs(100_000), 10));
        let end = done.bandit.search_end().expect("target reached");
        if end.arm == 0 {
            // Plain got lucky: nothing to confirm.
            plain_won += 1;
            assert_eq!(done.bandit.total_runs(), end.runs, "seed {seed}");
            continue;
        }
        assert_eq!(end.arm, 2, "seed {seed}");
        assert_eq!(done.bandit.phase(), Phase::Done);
        // The batches after the search went to the winner and to plain only.
        let mut runs = 0;
        let mut confirming = Vec::new();
        for batch in &done.batches {
            if runs >= end.runs {
                confirming.push(batch.arm);
            }
            runs += batch.runs;
        }
        assert!(!confirming.is_empty(), "seed {seed}");
        assert!(
            confirming.iter().all(|arm| *arm == 0 || *arm == 2),
            "seed {seed}"
        );
        assert!(
            confirming.contains(&0),
            "seed {seed}: plain is confirmed too"
        );
        // No longer than the search took (in runs, the budget's unit), give or take a batch.
        let confirmed = done.bandit.total_runs() - end.runs;
        assert!(
            confirmed <= end.runs + 10,
            "seed {seed}: {confirmed} after {}",
            end.runs
        );
        let outcome = done.bandit.outcome(false);
        assert!(
            outcome.arms[2].speedup_low.expect("low") > 1.0,
            "seed {seed}"
        );
    }
    assert!(plain_won <= 1, "{plain_won}");
}

#[test]
fn plain_keeps_its_share_even_when_an_arm_is_far_better() {
    for seed in SEEDS {
        let oracle = Oracle::new(
            vec![arm("plain", 0.0, 10), arm("pin=one-core", 0.5, 10)],
            seed,
        );
        let mut rules = policy(400, Budget::Runs(4000), 10);
        rules.confirm = 0.0;
        let done = hunt(oracle, rules);
        let arms = done.bandit.arms();
        let share = arms[0].time_s / (arms[0].time_s + arms[1].time_s);
        assert!(share >= 0.09, "seed {seed}: plain got {share:.3}");
        assert!(share <= 0.2, "seed {seed}: plain got {share:.3}");
    }
}

#[test]
fn a_run_budget_bounds_the_hunt_and_arms_take_turns_when_nothing_fails() {
    let oracle = Oracle::new(
        vec![
            arm("plain", 0.0, 10),
            arm("nice=5", 0.0, 10),
            arm("pin=0", 0.0, 10),
        ],
        7,
    );
    let done = hunt(oracle, policy(3, Budget::Runs(2000), 10));
    assert_eq!(done.bandit.total_runs(), 2000);
    assert_eq!(done.batches[0].arm, 0, "plain goes first");
    let arms = done.bandit.arms();
    // Each perturbation was tried, and together they stayed within the exploration share.
    assert!(arms[1].runs > 0 && arms[2].runs > 0, "{arms:?}");
    let explored = (arms[1].runs + arms[2].runs) as f64 / 2000.0;
    assert!(explored <= 0.15, "{explored}");
    let outcome = done.bandit.outcome(false);
    assert_eq!(outcome.best, None);
    assert_eq!(outcome.search, None);
    assert!(outcome.arms.iter().all(|arm| arm.speedup.is_none()));
}

#[test]
fn untried_arms_go_first_in_the_order_listed_without_plain() {
    let oracle = Oracle::new(
        vec![
            arm("nice=5", 0.0, 10),
            arm("nice=10", 0.0, 10),
            arm("nice=15", 0.0, 10),
        ],
        3,
    );
    let done = hunt(oracle, policy(3, Budget::Runs(60), 10));
    let order: Vec<ArmId> = done.batches.iter().map(|batch| batch.arm).collect();
    assert_eq!(order[..3], [0, 1, 2]);
}

#[test]
fn a_time_budget_is_respected() {
    let oracle = Oracle::new(
        vec![arm("plain", 0.0, 10), arm("pin=one-core", 0.0, 70)],
        11,
    );
    let limit = Duration::from_secs(10);
    let done = hunt(oracle, policy(3, Budget::Time(limit), 10));
    assert!(done.spent >= limit && done.spent < limit + Duration::from_millis(70));
    let arms = done.bandit.arms();
    assert!(arms[0].runs > 0 && arms[1].runs > 0);
    let elapsed: f64 = arms.iter().map(|arm| arm.time_s).sum();
    assert!((elapsed - done.spent.as_secs_f64()).abs() < 1e-9);
}

#[test]
fn batches_sized_by_time_follow_each_arms_cost() {
    let oracle = Oracle::new(vec![arm("plain", 0.0, 1), arm("cpu-load=1", 0.0, 50)], 5);
    let rules = Policy::new(
        3,
        Budget::Runs(5000),
        BatchSize::Span {
            span: Duration::from_millis(500),
            min: 4,
        },
    );
    let done = hunt(oracle, rules);
    let plain: Vec<u64> = done
        .batches
        .iter()
        .filter(|b| b.arm == 0)
        .map(|b| b.runs)
        .collect();
    let slow: Vec<u64> = done
        .batches
        .iter()
        .filter(|b| b.arm == 1)
        .map(|b| b.runs)
        .collect();
    // Each arm's first batch is a probe; then batches double, up to 500 of plain's 1 ms runs.
    assert_eq!(plain[..4], [4, 4, 8, 16]);
    assert!(plain
        .windows(2)
        .all(|w| w[1] == (2 * w[0]).min(500) || w[1] == w[0]));
    assert_eq!(plain.last(), Some(&500), "{plain:?}");
    assert!(slow.iter().all(|runs| *runs <= 500), "{slow:?}");
}

#[test]
fn policies_that_cannot_work_are_refused() {
    let good = policy(3, Budget::Runs(10), 10);
    let arms = || vec!["plain".to_string()];
    assert_eq!(
        Bandit::new(Vec::new(), good).err(),
        Some(PolicyError::NoArms)
    );
    assert_eq!(
        Bandit::new(vec!["plain".into(), "plain".into()], good).err(),
        Some(PolicyError::DuplicateArm("plain".into()))
    );
    assert_eq!(
        Bandit::new(
            arms(),
            Policy {
                failures: 0,
                ..good
            }
        )
        .err(),
        Some(PolicyError::NoFailureTarget)
    );
    assert_eq!(
        Bandit::new(
            arms(),
            Policy {
                batch: BatchSize::Fixed(0),
                ..good
            }
        )
        .err(),
        Some(PolicyError::EmptyBatch)
    );
    for budget in [Budget::Runs(0), Budget::Time(Duration::ZERO)] {
        assert_eq!(
            Bandit::new(arms(), Policy { budget, ..good }).err(),
            Some(PolicyError::EmptyBudget)
        );
    }
    for (rules, name) in [
        (
            Policy {
                confirm: 1.0,
                ..good
            },
            "confirmation",
        ),
        (
            Policy {
                explore: 0.0,
                ..good
            },
            "exploration",
        ),
        (
            Policy {
                plain_share: -0.1,
                ..good
            },
            "plain",
        ),
        (
            Policy {
                confirm: f64::NAN,
                ..good
            },
            "confirmation",
        ),
    ] {
        assert_eq!(
            Bandit::new(arms(), rules).err(),
            Some(PolicyError::Share(name))
        );
    }
}

#[test]
fn failure_modes_that_disappear_under_an_arm_are_reported() {
    for seed in SEEDS {
        let mut plain = arm("plain", 0.0, 10);
        plain.modes = vec![("x", 0.4)];
        let mut pinned = arm("pin=one-core", 0.0, 10);
        pinned.modes = vec![("y", 0.3)];
        let mut rules = policy(1000, Budget::Runs(400), 20);
        rules.explore = 0.5;
        rules.plain_share = 0.3;
        let done = hunt(Oracle::new(vec![plain, pinned], seed), rules);
        let outcome = done.bandit.outcome(false);
        let gone: Vec<(&str, &str)> = outcome
            .suppressed
            .iter()
            .map(|gone| (gone.shake.as_str(), gone.signature.as_str()))
            .collect();
        assert!(
            gone.contains(&("pin=one-core", "x")),
            "seed {seed}: {gone:?}"
        );
        // Plain is the reference: "y" missing from plain is not called a disappearance.
        assert!(!gone.contains(&("plain", "y")), "seed {seed}: {gone:?}");
        let x = outcome
            .suppressed
            .iter()
            .find(|gone| gone.signature == "x")
            .expect("x");
        assert_eq!(x.text, "exit 1: x");
        let plain = &done.bandit.arms()[0];
        let expected =
            plain.signatures["x"] as f64 / plain.runs as f64 * done.bandit.arms()[1].runs as f64;
        assert!((x.expected - expected).abs() < 1e-9);
    }
}

#[test]
fn suppression_needs_evidence() {
    let tally = |shake: &str, runs: u64, failures: &[(&str, u64)]| ArmTally {
        failures: failures.iter().map(|(_, c)| c).sum(),
        signatures: failures
            .iter()
            .map(|(id, c)| (id.to_string(), *c))
            .collect(),
        runs,
        ..ArmTally::new(shake.into())
    };
    let texts: BTreeMap<String, String> = [("a".to_string(), "exit 1: A".to_string())]
        .into_iter()
        .collect();
    let arms = vec![
        tally("plain", 100, &[("a", 10)]),
        tally("pin=one-core", 100, &[]),
        tally("nice=5", 3, &[]),
    ];
    let gone = find_suppressed(&arms, Some(0), &texts);
    assert_eq!(gone.len(), 1, "3 runs are too few to say: {gone:?}");
    assert_eq!(gone[0].shake, "pin=one-core");
}

#[test]
fn poisson_intervals_match_reference_values() {
    // Reference values: exact (Garwood) intervals, e.g. from R's poisson.test.
    assert!((poisson_upper(0, 0.95) - 2.995_732).abs() < 1e-5);
    assert!((poisson_upper(3, 0.95) - 7.753_657).abs() < 1e-5);
    let ten = poisson_rate(10, 2.0, 0.95);
    assert!((ten.estimate - 5.0).abs() < 1e-12);
    assert!((ten.low - 4.795_389 / 2.0).abs() < 1e-5, "{ten:?}");
    assert!((ten.high - 18.390_356 / 2.0).abs() < 1e-5, "{ten:?}");
    let none = poisson_rate(0, 1.0, 0.95);
    assert_eq!(none.low, 0.0);
    assert!((none.high - 3.688_879).abs() < 1e-5, "{none:?}");
    assert_eq!(poisson_rate(3, 0.0, 0.95).high, f64::INFINITY);
}

#[test]
fn rate_ratios_per_second() {
    // 4 failures in 10 s against 8 in 2 s: ten times the rate.
    let ratio = rate_ratio_per_time(4, 10.0, 8, 2.0, 0.95).expect("ratio");
    assert!((ratio.estimate - 10.0).abs() < 1e-9);
    assert!(
        ratio.low > 2.5 && ratio.low < 10.0 && ratio.high > 10.0,
        "{ratio:?}"
    );
    // Plain never failed: only a lower bound.
    let bound = rate_ratio_per_time(0, 10.0, 5, 1.0, 0.95).expect("bound");
    assert_eq!((bound.estimate, bound.high), (f64::INFINITY, f64::INFINITY));
    assert!(bound.low > 1.0, "{bound:?}");
    // The arm never failed: only an upper bound.
    let worse = rate_ratio_per_time(6, 1.0, 0, 1.0, 0.95).expect("worse");
    assert_eq!((worse.estimate, worse.low), (0.0, 0.0));
    assert!(worse.high < 1.0, "{worse:?}");
    assert_eq!(rate_ratio_per_time(0, 1.0, 0, 1.0, 0.95), None);
    assert_eq!(rate_ratio_per_time(1, 0.0, 1, 1.0, 0.95), None);
}
