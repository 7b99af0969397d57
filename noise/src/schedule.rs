//! Per-thread noise decisions: identities, the xorshift generator, PCT-style priorities with
//! their change points, and whether a given point gets a yield or a sleep.

/// Probability factor of `read` and `write`.
const IO_FACTOR: f64 = 0.25;
/// Largest number of priority change points of a thread.
const MAX_CHANGE_POINTS: u64 = 3;
/// Window, in intercepted calls, of a thread's first change point.
const FIRST_WINDOW: u64 = 256;
/// Growth of the change point window after each change point.
const WINDOW_GROWTH: u64 = 4;

/// Identity of a process's main thread.
pub(crate) const MAIN_IDENTITY: u64 = 0x6d61_696e_7468_7264;
/// Salt of the identities of threads this library did not see being created.
pub(crate) const FOREIGN_SALT: u64 = 0x666f_7265_6967_6e00;
/// Salt of the identities of created threads.
pub(crate) const SPAWN_SALT: u64 = 0x7370_6177_6e65_6400;
/// Salt of the identities of forked children.
pub(crate) const FORK_SALT: u64 = 0x666f_726b_6564_0000;

/// The splitmix64 finaliser: a bijective mix of all 64 bits.
pub(crate) const fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Identity derived from a parent identity, a salt and an ordinal.
pub(crate) const fn derive_identity(parent: u64, salt: u64, ordinal: u64) -> u64 {
    splitmix64(parent ^ splitmix64(salt ^ ordinal))
}

/// Threshold below which a uniform `u64` means "inject", for probability `p`.
pub(crate) fn threshold(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else if p > 0.0 {
        // The cast saturates; 2^64 as f64 is exact.
        (p * 18_446_744_073_709_551_616.0) as u64
    } else {
        0
    }
}

/// What kind of point an intercepted call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Point {
    /// Thread, lock, condition variable and signal functions.
    Sync,
    /// `read` and `write`.
    Io,
}

/// One injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Noise {
    /// `sched_yield()`.
    Yield,
    /// `nanosleep` for this many microseconds.
    Sleep(u64),
}

/// A thread's noise state. `Copy` and without a destructor, so that it can live in a
/// constant-initialised thread local.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ThreadState {
    /// Whether the state has been seeded.
    pub(crate) ready: bool,
    /// The thread's identity (see the crate documentation on replay).
    pub(crate) identity: u64,
    /// xorshift64* state, never zero once seeded.
    rng: u64,
    /// Threads this thread has created through `pthread_create`.
    pub(crate) spawned: u64,
    /// Times this thread has called `fork`.
    pub(crate) forks: u64,
    /// Intercepted calls of this thread.
    calls: u64,
    /// Call count at which the next change point falls.
    next_change: u64,
    /// Window of the next change point after this one.
    window: u64,
    /// Change points still to come.
    changes_left: u64,
    /// Injection threshold of synchronisation points at the current priority.
    sync_threshold: u64,
    /// Injection threshold of `read` and `write` at the current priority.
    io_threshold: u64,
}

impl ThreadState {
    /// The state of a thread that has not been seeded yet.
    pub(crate) const UNSEEDED: ThreadState = ThreadState {
        ready: false,
        identity: 0,
        rng: 0,
        spawned: 0,
        forks: 0,
        calls: 0,
        next_change: 0,
        window: 0,
        changes_left: 0,
        sync_threshold: 0,
        io_threshold: 0,
    };

    /// A fresh state for `identity` under `seed`, with base probability `probability`.
    pub(crate) fn seeded(identity: u64, seed: u64, probability: f64) -> ThreadState {
        let mut state = ThreadState {
            ready: true,
            identity,
            rng: splitmix64(seed ^ splitmix64(identity)) | 1,
            ..ThreadState::UNSEEDED
        };
        state.changes_left = 1 + state.next() % MAX_CHANGE_POINTS;
        state.window = FIRST_WINDOW;
        state.next_change = 1 + state.next() % FIRST_WINDOW;
        state.draw_priority(probability);
        state
    }

    /// Next value of the xorshift64* generator.
    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Draw a new priority: a log-uniform multiplier in `[0.25, 4]` of the base probability.
    fn draw_priority(&mut self, probability: f64) {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let effective = probability * (4.0 * unit - 2.0).exp2();
        self.sync_threshold = threshold(effective);
        self.io_threshold = threshold(effective * IO_FACTOR);
    }

    /// Count one intercepted call and pass a change point if one is due.
    pub(crate) fn tick(&mut self, probability: f64) {
        self.calls = self.calls.wrapping_add(1);
        if self.changes_left > 0 && self.calls >= self.next_change {
            self.changes_left -= 1;
            self.draw_priority(probability);
            self.window = self.window.saturating_mul(WINDOW_GROWTH);
            let offset = 1 + self.next() % self.window;
            self.next_change = self.calls.saturating_add(offset);
        }
    }

    /// Decide whether `point` gets noise, and which.
    pub(crate) fn decide(&mut self, point: Point, max_sleep_us: u64) -> Option<Noise> {
        let limit = match point {
            Point::Sync => self.sync_threshold,
            Point::Io => self.io_threshold,
        };
        if limit == 0 || self.next() >= limit {
            return None;
        }
        let choice = self.next();
        if max_sleep_us == 0 || choice & 1 == 0 {
            Some(Noise::Yield)
        } else {
            Some(Noise::Sleep(1 + (choice >> 1) % max_sleep_us))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_cover_the_unit_interval() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(-1.0), 0);
        assert_eq!(threshold(1.0), u64::MAX);
        assert_eq!(threshold(3.0), u64::MAX);
        assert_eq!(threshold(0.5), 1 << 63);
    }

    #[test]
    fn the_same_identity_and_seed_make_the_same_decisions() {
        let run = |identity, seed| {
            let mut state = ThreadState::seeded(identity, seed, 0.3);
            (0..2_000)
                .map(|_| {
                    state.tick(0.3);
                    state.decide(Point::Sync, 200)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1, 7), run(1, 7));
        assert_ne!(run(1, 7), run(2, 7));
        assert_ne!(run(1, 7), run(1, 8));
    }

    #[test]
    fn priorities_stay_within_a_factor_of_four() {
        for seed in 0..2_000 {
            let state = ThreadState::seeded(MAIN_IDENTITY, seed, 0.1);
            assert!(
                state.sync_threshold >= threshold(0.025) - 1024,
                "seed {seed}"
            );
            assert!(state.sync_threshold <= threshold(0.4) + 1024, "seed {seed}");
            assert!(state.io_threshold <= state.sync_threshold);
        }
    }

    #[test]
    fn priorities_change_at_one_to_three_points() {
        for seed in 0..200 {
            let mut state = ThreadState::seeded(MAIN_IDENTITY, seed, 0.1);
            let mut last = state.sync_threshold;
            let mut changes = 0;
            for _ in 0..1_000_000 {
                state.tick(0.1);
                if state.sync_threshold != last {
                    changes += 1;
                    last = state.sync_threshold;
                }
            }
            assert!((1..=3).contains(&changes), "seed {seed}: {changes} changes");
            assert_eq!(state.changes_left, 0, "seed {seed}");
        }
    }

    #[test]
    fn zero_probability_never_injects() {
        let mut state = ThreadState::seeded(MAIN_IDENTITY, 1, 0.0);
        for _ in 0..10_000 {
            state.tick(0.0);
            assert_eq!(state.decide(Point::Sync, 200), None);
            assert_eq!(state.decide(Point::Io, 200), None);
        }
    }

    #[test]
    fn certain_noise_always_injects_within_bounds() {
        let mut state = ThreadState::seeded(MAIN_IDENTITY, 3, 1.0);
        let mut sleeps = 0;
        for _ in 0..10_000 {
            match state.decide(Point::Sync, 50) {
                Some(Noise::Sleep(us)) => {
                    assert!((1..=50).contains(&us));
                    sleeps += 1;
                }
                Some(Noise::Yield) => {}
                None => panic!("probability 1 must always inject"),
            }
            assert_ne!(state.decide(Point::Sync, 0), Some(Noise::Sleep(0)));
        }
        assert!(sleeps > 4_000 && sleeps < 6_000, "{sleeps} sleeps");
    }

    #[test]
    fn io_points_get_less_noise() {
        let mut state = ThreadState::seeded(MAIN_IDENTITY, 5, 0.4);
        let count = |state: &mut ThreadState, point| {
            (0..100_000)
                .filter(|_| state.decide(point, 10).is_some())
                .count()
        };
        let sync = count(&mut state, Point::Sync);
        let io = count(&mut state, Point::Io);
        assert!(io * 3 < sync, "sync {sync}, io {io}");
    }

    #[test]
    fn child_identities_differ() {
        let a = derive_identity(MAIN_IDENTITY, SPAWN_SALT, 1);
        let b = derive_identity(MAIN_IDENTITY, SPAWN_SALT, 2);
        let c = derive_identity(MAIN_IDENTITY, FORK_SALT, 1);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, MAIN_IDENTITY);
    }
}
