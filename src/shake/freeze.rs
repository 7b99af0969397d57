//! The `freeze` shake: a run's whole process group is stopped (SIGSTOP) at random moments for
//! random lengths, then continued (SIGCONT). Every thread stops at once, so the program's own
//! ordering is untouched while wall-clock time jumps: sleeps used as synchronisation, heartbeats
//! and deadlines break. The schedule is drawn from the run's seed, so `--seed` replays it.

use std::fmt;
use std::time::Duration;

/// Shortest freeze or gap accepted: below this the runner's wake-ups dominate.
pub const MIN_STEP: Duration = Duration::from_micros(100);
/// Longest single freeze accepted.
pub const MAX_FREEZE: Duration = Duration::from_secs(10);

/// How a run is frozen: each freeze lasts `min..=max` (uniform), and the running time between
/// two freezes (and before the first) is exponential with mean `gap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freeze {
    /// Shortest freeze.
    pub min: Duration,
    /// Longest freeze.
    pub max: Duration,
    /// Mean running time between freezes.
    pub gap: Duration,
}

impl Default for Freeze {
    /// `freeze` alone: 1 to 20 ms pauses, one every 50 ms of running time on average.
    fn default() -> Freeze {
        Freeze {
            min: Duration::from_millis(1),
            max: Duration::from_millis(20),
            gap: Duration::from_millis(50),
        }
    }
}

impl Freeze {
    /// Parse the value of `freeze=`: `MIN..MAX@GAP`, `MIN..MAX`, `DUR@GAP` or `DUR`; parts left
    /// out keep their defaults.
    pub fn parse(text: &str) -> Result<Freeze, String> {
        let duration = |text: &str| {
            humantime::parse_duration(text.trim())
                .map_err(|error| format!("'{}' is not a duration ({error})", text.trim()))
        };
        let mut freeze = Freeze::default();
        let (lengths, gap) = match text.split_once('@') {
            Some((lengths, gap)) => (lengths, Some(gap)),
            None => (text, None),
        };
        if let Some(gap) = gap {
            freeze.gap = duration(gap)?;
        }
        match lengths.split_once("..") {
            Some((min, max)) => {
                freeze.min = duration(min)?;
                freeze.max = duration(max)?;
            }
            None => {
                freeze.min = duration(lengths)?;
                freeze.max = freeze.min;
            }
        }
        freeze.check()?;
        Ok(freeze)
    }

    fn check(&self) -> Result<(), String> {
        if self.min > self.max {
            return Err("the shortest freeze is longer than the longest; write MIN..MAX".into());
        }
        if self.min < MIN_STEP || self.gap < MIN_STEP {
            return Err("freezes and the gaps between them must be at least 100us".into());
        }
        if self.max > MAX_FREEZE {
            return Err("a single freeze may last at most 10s".into());
        }
        Ok(())
    }
}

impl fmt::Display for Freeze {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dur = |d: Duration| humantime::format_duration(d).to_string().replace(' ', "");
        if self.min == self.max {
            write!(f, "freeze={}@{}", dur(self.min), dur(self.gap))
        } else {
            write!(
                f,
                "freeze={}..{}@{}",
                dur(self.min),
                dur(self.max),
                dur(self.gap)
            )
        }
    }
}

/// The freezes of one run, drawn lazily from its seed.
#[derive(Debug, Clone)]
pub struct FreezeSchedule {
    freeze: Freeze,
    state: u64,
}

impl FreezeSchedule {
    /// The schedule of the run with `seed`.
    pub fn new(freeze: Freeze, seed: u64) -> FreezeSchedule {
        FreezeSchedule {
            freeze,
            // A different stream from the preload noise, which draws from the same seed.
            state: seed ^ 0xf4ee_2e5c_6a1d_0b37,
        }
    }

    /// The next freeze: how long the run keeps running before it, and how long it lasts.
    pub fn next_freeze(&mut self) -> (Duration, Duration) {
        // Exponential gaps make the moments memoryless: no phase of the program is favoured.
        // Capped at 20 means so one draw cannot switch the shake off for a whole run.
        let gap = self.freeze.gap.as_secs_f64() * (-(1.0 - self.unit()).ln()).min(20.0);
        let span = self.freeze.max.saturating_sub(self.freeze.min);
        let length = self.freeze.min + span.mul_f64(self.unit());
        (Duration::from_secs_f64(gap), length)
    }

    /// Uniform on `[0, 1)` (SplitMix64).
    fn unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_prints_back() {
        let ms = Duration::from_millis;
        assert_eq!(
            Freeze::parse("1ms..20ms@50ms"),
            Ok(Freeze {
                min: ms(1),
                max: ms(20),
                gap: ms(50)
            })
        );
        assert_eq!(
            Freeze::parse("5ms").map(|f| (f.min, f.max, f.gap)),
            Ok((ms(5), ms(5), ms(50)))
        );
        assert_eq!(Freeze::parse("2ms..3ms").map(|f| f.gap), Ok(ms(50)));
        assert_eq!(Freeze::parse(" 4ms @ 1s ").map(|f| f.gap), Ok(ms(1000)));
        for text in ["1ms..20ms@50ms", "5ms@10ms", "1ms500us..2ms@3ms"] {
            let freeze = Freeze::parse(text).expect(text);
            assert_eq!(freeze.to_string(), format!("freeze={text}"));
        }
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        for (text, reason) in [
            ("20ms..1ms", "shortest freeze is longer"),
            ("10us", "at least 100us"),
            ("1ms@10us", "at least 100us"),
            ("1ms..1min", "at most 10s"),
            ("soon", "not a duration"),
            ("1ms..", "not a duration"),
        ] {
            let error = Freeze::parse(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn schedules_replay_from_the_seed_and_respect_the_lengths() {
        let freeze = Freeze::parse("1ms..20ms@50ms").expect("valid");
        let draws = |seed| {
            let mut schedule = FreezeSchedule::new(freeze, seed);
            (0..1000)
                .map(|_| schedule.next_freeze())
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7));
        assert_ne!(first, draws(8));
        for (gap, length) in &first {
            assert!(*length >= freeze.min && *length <= freeze.max);
            assert!(*gap <= freeze.gap * 20);
        }
        // The gaps average their mean, the lengths the middle of their range.
        let mean_gap = first.iter().map(|(g, _)| g.as_secs_f64()).sum::<f64>() / 1000.0;
        let mean_length = first.iter().map(|(_, l)| l.as_secs_f64()).sum::<f64>() / 1000.0;
        assert!((mean_gap - 0.050).abs() < 0.006, "{mean_gap}");
        assert!((mean_length - 0.0105).abs() < 0.001, "{mean_length}");
    }
}
