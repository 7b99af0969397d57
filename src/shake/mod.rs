//! Shake: perturbations that make rare interleavings common. A [`Shake`] is parsed from a comma
//! list (`cpu-load=2,pin=one-core,nice=19,jitter=1ms`); it yields campaign-wide load generators
//! and environment, and for each run its CPU placement, priority, scheduling policy, start delay
//! and seed. Everything that needs privileges is checked up front and skipped with a warning.
//! What lives as long as the campaign (load generators, preload library) is in [`runtime`].

pub mod detect;
pub mod freeze;
pub mod knobs;
pub mod load;
pub mod noise;
pub mod runtime;

pub use freeze::Freeze;
pub use runtime::{per_run_keys, ShakeRuntime};

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// A shake that could not be parsed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("--shake item {position} '{item}': {message}")]
pub struct ShakeError {
    /// 1-based position in the comma list.
    pub position: usize,
    /// The item.
    pub item: String,
    /// What is wrong.
    pub message: String,
}

/// Where each run may execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Each run on one core (rotating over the cores): its threads must take turns.
    OneCore,
    /// Each run on one core drawn at random from its seed.
    RandomCore,
    /// Each run on two neighbouring cores: true parallelism between two threads.
    Spread,
    /// Exactly these cores.
    List(Vec<usize>),
}

/// Scheduling policy of each run (none needs privileges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// SCHED_BATCH: longer slices, fewer preemptions.
    Batch,
    /// SCHED_IDLE: runs only when nothing else wants the CPU.
    Idle,
    /// SCHED_OTHER: the default.
    Other,
}

/// A set of perturbations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shake {
    /// Competing busy processes and their duty cycle (percent).
    pub cpu_load: Option<(usize, u32)>,
    /// Memory-bandwidth thrashers.
    pub mem_load: Option<usize>,
    /// fsync churners.
    pub io_load: Option<usize>,
    /// CPU placement per run.
    pub pin: Option<Pin>,
    /// Nice value of each run.
    pub nice: Option<i32>,
    /// Scheduling policy of each run.
    pub policy: Option<Policy>,
    /// Requested time slice (EEVDF slice hint, Linux 6.12+).
    pub slice: Option<Duration>,
    /// Preload noise with this probability per intercepted call.
    pub noise: Option<f64>,
    /// Random delay before each run starts, up to this, plus random environment padding.
    pub jitter: Option<Duration>,
    /// Runtime knobs, as environment variables (GOMAXPROCS, GOGC, GODEBUG, RUST_TEST_THREADS).
    pub env: Vec<(String, String)>,
    /// Python thread switch interval, set through a generated sitecustomize.
    pub py_switch: Option<Duration>,
    /// Stop and continue each run's process group at random moments.
    pub freeze: Option<Freeze>,
}

/// Everything a single run needs from the shake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPlacement {
    /// CPUs the run may use.
    pub cpus: Option<Vec<usize>>,
    /// Nice value.
    pub nice: Option<i32>,
    /// `SCHED_*` policy number.
    pub policy: Option<i32>,
    /// Slice hint in nanoseconds.
    pub slice_ns: Option<u64>,
}

/// Longest jitter or switch interval.
const MAX_SHAKE_TIME: Duration = Duration::from_secs(60);

fn error(position: usize, item: &str, message: impl Into<String>) -> ShakeError {
    ShakeError {
        position,
        item: item.to_string(),
        message: message.into(),
    }
}

fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.split(['+', ' ']).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((low, high)) => {
                let low: usize = low
                    .parse()
                    .map_err(|_| format!("'{part}' is not a CPU range"))?;
                let high: usize = high
                    .parse()
                    .map_err(|_| format!("'{part}' is not a CPU range"))?;
                if low > high || high >= crate::os::sched::MAX_CPUS {
                    return Err(format!("'{part}' is not a CPU range"));
                }
                cpus.extend(low..=high);
            }
            None => {
                let cpu: usize = part
                    .parse()
                    .map_err(|_| format!("'{part}' is not a CPU number"))?;
                if cpu >= crate::os::sched::MAX_CPUS {
                    return Err(format!("CPU {cpu} is out of range"));
                }
                cpus.push(cpu);
            }
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

impl Shake {
    /// Parse a comma list of perturbations. CPU lists use `+` between items (`pin=0+2-3`).
    pub fn parse(text: &str) -> Result<Shake, ShakeError> {
        let mut shake = Shake::default();
        let mut seen: Vec<&str> = Vec::new();
        for (index, item) in text.split(',').map(str::trim).enumerate() {
            let position = index + 1;
            if item.is_empty() {
                return Err(error(position, item, "empty item"));
            }
            let (name, value) = match item.split_once('=') {
                Some((name, value)) => (name.trim(), Some(value.trim())),
                None => (item, None),
            };
            if seen.contains(&name) {
                return Err(error(
                    position,
                    item,
                    format!("'{name}' is given twice; give each shake once"),
                ));
            }
            seen.push(name);
            let need = |what: &str| {
                value.ok_or_else(|| error(position, item, format!("needs a value: {name}={what}")))
            };
            let number = |text: &str| -> Result<usize, ShakeError> {
                text.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0 && *n <= 256)
                    .ok_or_else(|| {
                        error(
                            position,
                            item,
                            format!("'{text}' is not a count from 1 to 256"),
                        )
                    })
            };
            let duration = |text: &str| -> Result<Duration, ShakeError> {
                humantime::parse_duration(text)
                    .map_err(|e| error(position, item, format!("'{text}' is not a duration ({e})")))
            };
            // A delay or interval past a minute stalls a campaign rather than shaking it.
            let bounded = |text: &str, what: &str| -> Result<Duration, ShakeError> {
                let value = duration(text)?;
                if value < Duration::from_micros(1) || value > MAX_SHAKE_TIME {
                    return Err(error(position, item, format!("{what} must be 1us to 1m")));
                }
                Ok(value)
            };
            match name {
                "cpu-load" => {
                    let value = need("N[:DUTY%]")?;
                    let (count, duty) = match value.split_once(':') {
                        Some((count, duty)) => {
                            let duty: u32 = duty
                                .trim_end_matches('%')
                                .parse()
                                .ok()
                                .filter(|d| (1..=100).contains(d))
                                .ok_or_else(|| error(position, item, "duty cycle must be 1 to 100 (percent)"))?;
                            (number(count)?, duty)
                        }
                        None => (number(value)?, 100),
                    };
                    shake.cpu_load = Some((count, duty));
                }
                "mem-load" => shake.mem_load = Some(number(need("N")?)?),
                "io-load" => shake.io_load = Some(number(need("N")?)?),
                "pin" => {
                    shake.pin = Some(match need("one-core|random-core|spread|CPULIST")? {
                        "one-core" => Pin::OneCore,
                        "random-core" => Pin::RandomCore,
                        "spread" => Pin::Spread,
                        list => Pin::List(parse_cpu_list(list).map_err(|m| error(position, item, m))?),
                    })
                }
                "nice" => {
                    let nice: i32 = need("N")?
                        .parse()
                        .ok()
                        .filter(|n| (-20..=19).contains(n))
                        .ok_or_else(|| error(position, item, "nice must be -20 to 19"))?;
                    shake.nice = Some(nice);
                }
                "sched" => {
                    shake.policy = Some(match need("batch|idle|other")? {
                        "batch" => Policy::Batch,
                        "idle" => Policy::Idle,
                        "other" => Policy::Other,
                        other => return Err(error(position, item, format!("'{other}' is not batch, idle or other"))),
                    })
                }
                "slice" => {
                    let slice = duration(need("DUR")?)?;
                    if slice < Duration::from_micros(100) || slice > Duration::from_millis(100) {
                        return Err(error(position, item, "slice must be 100us to 100ms"));
                    }
                    shake.slice = Some(slice);
                }
                "noise" => {
                    let probability = match value {
                        None => 0.05,
                        Some(p) => p
                            .parse::<f64>()
                            .ok()
                            .filter(|p| *p > 0.0 && *p <= 1.0)
                            .ok_or_else(|| error(position, item, "noise probability must be in (0, 1], e.g. noise=0.05"))?,
                    };
                    shake.noise = Some(probability);
                }
                "jitter" => shake.jitter = Some(bounded(need("DUR")?, "jitter")?),
                "go-procs" => shake.env.push(("GOMAXPROCS".into(), number(need("N")?)?.to_string())),
                "go-gc" => {
                    let value = need("PERCENT")?;
                    if value != "off" {
                        value
                            .parse::<u32>()
                            .map_err(|_| error(position, item, "go-gc takes a percentage or off, e.g. go-gc=1"))?;
                    }
                    shake.env.push(("GOGC".into(), value.to_string()));
                }
                "go-debug" => {
                    let value = need("NAME=VALUE")?;
                    if value.split_once('=').is_none_or(|(name, _)| name.trim().is_empty()) {
                        return Err(error(position, item, "go-debug takes a GODEBUG setting NAME=VALUE, e.g. go-debug=asyncpreemptoff=1"));
                    }
                    shake.env.push(("GODEBUG".into(), value.to_string()));
                }
                "rust-threads" => shake
                    .env
                    .push(("RUST_TEST_THREADS".into(), number(need("N")?)?.to_string())),
                "py-switch" => {
                    shake.py_switch = Some(bounded(need("DUR")?, "the switch interval")?);
                }
                "freeze" => {
                    shake.freeze = Some(match value {
                        None => Freeze::default(),
                        Some(text) => Freeze::parse(text).map_err(|m| error(position, item, m))?,
                    });
                }
                other => {
                    return Err(error(
                        position,
                        item,
                        format!(
                            "unknown shake '{other}'; known: cpu-load, mem-load, io-load, pin, nice, sched, slice, noise, jitter, freeze, go-procs, go-gc, go-debug, rust-threads, py-switch"
                        ),
                    ))
                }
            }
        }
        Ok(shake)
    }

    /// True if nothing is perturbed.
    pub fn is_plain(&self) -> bool {
        *self == Shake::default()
    }

    /// Check privileges and kernel support; drop what cannot apply, with a warning each.
    pub fn preflight(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(nice) = self.nice.filter(|n| *n < 0) {
            if !probe_on_thread(move || crate::os::sched::set_nice(nice).is_ok()) {
                warnings.push(format!(
                    "nice={nice} needs privileges (CAP_SYS_NICE) that flakehunt does not have; skipped"
                ));
                self.nice = None;
            }
        }
        if let Some(slice) = self.slice {
            let nanos = slice.as_nanos() as u64;
            if !probe_on_thread(move || crate::os::sched::set_slice(nanos).is_ok()) {
                warnings.push(
                    "slice needs a kernel with EEVDF slice hints (Linux 6.12+); skipped"
                        .to_string(),
                );
                self.slice = None;
            }
        }
        if self.noise.is_some() && !noise::available() {
            warnings
                .push("noise: the preload library is not available in this build; skipped".into());
            self.noise = None;
        }
        if let Some(Pin::List(cpus)) = &self.pin {
            let online = online_cpus();
            if let Some(missing) = cpus.iter().find(|cpu| !online.contains(cpu)) {
                warnings.push(format!(
                    "pin: CPU {missing} is not available here; pinning skipped"
                ));
                self.pin = None;
            }
        }
        warnings
    }

    /// Placement of run `index`, whose seed is `seed`.
    pub fn placement(&self, index: u64, seed: u64) -> RunPlacement {
        let online = online_cpus();
        let cpus = match &self.pin {
            None => None,
            Some(Pin::OneCore) => Some(vec![online[index as usize % online.len()]]),
            Some(Pin::RandomCore) => Some(vec![online[(seed % online.len() as u64) as usize]]),
            Some(Pin::Spread) if online.len() >= 2 => {
                let first = index as usize % online.len();
                Some(vec![online[first], online[(first + 1) % online.len()]])
            }
            Some(Pin::Spread) => None,
            Some(Pin::List(cpus)) => Some(cpus.clone()),
        };
        RunPlacement {
            cpus,
            nice: self.nice,
            policy: self.policy.map(|policy| match policy {
                Policy::Batch => libc::SCHED_BATCH,
                Policy::Idle => libc::SCHED_IDLE,
                Policy::Other => libc::SCHED_OTHER,
            }),
            slice_ns: self.slice.map(|s| s.as_nanos() as u64),
        }
    }

    /// Delay before run `index` starts (from its seed), if jitter is on.
    pub fn start_delay(&self, seed: u64) -> Option<Duration> {
        let jitter = self.jitter?;
        let unit = (mix(seed, 0x6a09) >> 11) as f64 / (1u64 << 53) as f64;
        Some(jitter.mul_f64(unit))
    }

    /// Environment of run `index` with `seed`: runtime knobs, the seed, and padding.
    pub fn run_environment(&self, seed: u64) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> =
            self.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
        env.push(("FLAKEHUNT_SEED".into(), seed.to_string().into()));
        if self.jitter.is_some() {
            // Shifts the initial stack (environment strings live above it), as rr's chaos mode.
            let length = (mix(seed, 0x3c6e) % 4096) as usize;
            env.push(("FLAKEHUNT_PAD".into(), "x".repeat(length).into()));
        }
        env
    }

    /// Names of the perturbations that need load generator processes.
    pub fn has_load(&self) -> bool {
        self.cpu_load.is_some() || self.mem_load.is_some() || self.io_load.is_some()
    }
}

impl fmt::Display for Shake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        let dur = |d: &Duration| humantime::format_duration(*d).to_string().replace(' ', "");
        if let Some((count, duty)) = self.cpu_load {
            items.push(if duty == 100 {
                format!("cpu-load={count}")
            } else {
                format!("cpu-load={count}:{duty}")
            });
        }
        if let Some(count) = self.mem_load {
            items.push(format!("mem-load={count}"));
        }
        if let Some(count) = self.io_load {
            items.push(format!("io-load={count}"));
        }
        if let Some(pin) = &self.pin {
            items.push(match pin {
                Pin::OneCore => "pin=one-core".into(),
                Pin::RandomCore => "pin=random-core".into(),
                Pin::Spread => "pin=spread".into(),
                Pin::List(cpus) => format!(
                    "pin={}",
                    cpus.iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join("+")
                ),
            });
        }
        if let Some(nice) = self.nice {
            items.push(format!("nice={nice}"));
        }
        if let Some(policy) = self.policy {
            items.push(
                match policy {
                    Policy::Batch => "sched=batch",
                    Policy::Idle => "sched=idle",
                    Policy::Other => "sched=other",
                }
                .into(),
            );
        }
        if let Some(slice) = &self.slice {
            items.push(format!("slice={}", dur(slice)));
        }
        if let Some(p) = self.noise {
            items.push(format!("noise={p}"));
        }
        if let Some(jitter) = &self.jitter {
            items.push(format!("jitter={}", dur(jitter)));
        }
        if let Some(freeze) = &self.freeze {
            items.push(freeze.to_string());
        }
        for (key, value) in &self.env {
            items.push(match key.as_str() {
                "GOMAXPROCS" => format!("go-procs={value}"),
                "GOGC" => format!("go-gc={value}"),
                "GODEBUG" => format!("go-debug={value}"),
                _ => format!("rust-threads={value}"),
            });
        }
        if let Some(interval) = &self.py_switch {
            items.push(format!("py-switch={}", dur(interval)));
        }
        if items.is_empty() {
            write!(f, "plain")
        } else {
            write!(f, "{}", items.join(","))
        }
    }
}

/// The run's seed: the campaign's seed mixed with the run index, or a fixed seed for replay.
pub fn run_seed(campaign_seed: u64, index: u64, fixed: Option<u64>) -> u64 {
    fixed.unwrap_or_else(|| mix(campaign_seed, index))
}

fn mix(seed: u64, salt: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&[seed.to_le_bytes(), salt.to_le_bytes()].concat())
}

/// CPUs this process may run on.
pub fn online_cpus() -> Vec<usize> {
    let cpus = crate::os::sched::allowed_cpus().unwrap_or_default();
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

/// Run a privilege probe on a short-lived thread, so flakehunt's own thread is unchanged.
fn probe_on_thread(probe: impl FnOnce() -> bool + Send + 'static) -> bool {
    std::thread::spawn(probe).join().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_item() {
        let text = "cpu-load=2:50,mem-load=1,io-load=1,pin=one-core,nice=19,sched=idle,slice=1ms,noise=0.1,jitter=2ms,go-procs=1,go-gc=1,go-debug=asyncpreemptoff=1,rust-threads=4,py-switch=1us";
        let shake = Shake::parse(text).expect("valid");
        assert_eq!(shake.cpu_load, Some((2, 50)));
        assert_eq!(shake.pin, Some(Pin::OneCore));
        assert_eq!(shake.policy, Some(Policy::Idle));
        assert_eq!(shake.env.len(), 4);
        assert_eq!(Shake::parse(&shake.to_string()).expect("round trip"), shake);
        assert_eq!(Shake::default().to_string(), "plain");
        assert_eq!(
            Shake::parse("pin=0+2-3").expect("list").pin,
            Some(Pin::List(vec![0, 2, 3]))
        );
    }

    #[test]
    fn errors_name_the_item() {
        let error = Shake::parse("pin=one-core,cpu-load=lots").expect_err("bad");
        assert_eq!(error.position, 2);
        assert!(error
            .to_string()
            .starts_with("--shake item 2 'cpu-load=lots'"));
        assert!(Shake::parse("wobble")
            .expect_err("unknown")
            .message
            .contains("unknown shake"));
        assert!(Shake::parse("nice=40").is_err());
        assert!(Shake::parse("cpu-load=2:0").is_err());
        assert!(Shake::parse("noise=2").is_err());
        assert!(Shake::parse("slice=1s").is_err());
        assert!(Shake::parse("pin=3-1").is_err());
        assert!(Shake::parse("a,,b").is_err());
    }

    #[test]
    fn nonsense_values_are_refused() {
        for (text, expect) in [
            ("jitter=500000000years", "jitter must be 1us to 1m"),
            ("jitter=61s", "jitter must be 1us to 1m"),
            ("jitter=0s", "jitter must be 1us to 1m"),
            ("py-switch=2h", "the switch interval must be 1us to 1m"),
            ("py-switch=0s", "the switch interval must be 1us to 1m"),
            ("jitter=99999999999999999999999years", "is not a duration"),
            ("cpu-load=100000", "is not a count from 1 to 256"),
            ("mem-load=0", "is not a count from 1 to 256"),
            ("go-procs=-1", "is not a count from 1 to 256"),
            ("rust-threads=1e9", "is not a count from 1 to 256"),
            ("nice=99", "nice must be -20 to 19"),
            ("slice=0", "slice must be 100us to 100ms"),
            ("go-gc=-5", "percentage or off"),
            ("go-debug=nonsense", "NAME=VALUE"),
            ("nice=5,nice=10", "'nice' is given twice"),
            ("noise=NaN", "noise probability"),
        ] {
            let error = Shake::parse(text).expect_err(text);
            assert!(error.message.contains(expect), "{text}: {error}");
        }
        assert_eq!(
            Shake::parse("go-gc=off").expect("off").env,
            vec![("GOGC".to_string(), "off".to_string())]
        );
        assert!(Shake::parse("jitter=1m,py-switch=1us").is_ok());
    }

    #[test]
    fn placements_rotate_and_seeds_replay() {
        let shake = Shake::parse("pin=one-core,jitter=10ms").expect("valid");
        let cpus = online_cpus();
        for index in 0..4u64 {
            let placement = shake.placement(index, 7);
            assert_eq!(
                placement.cpus,
                Some(vec![cpus[index as usize % cpus.len()]])
            );
        }
        assert_eq!(run_seed(1, 5, None), run_seed(1, 5, None));
        assert_ne!(run_seed(1, 5, None), run_seed(1, 6, None));
        assert_eq!(run_seed(1, 5, Some(42)), 42);
        let delay = shake.start_delay(99).expect("jitter");
        assert!(delay <= Duration::from_millis(10));
        assert_eq!(shake.start_delay(99), Some(delay));
        let env = shake.run_environment(99);
        assert!(env.iter().any(|(k, v)| k == "FLAKEHUNT_SEED" && v == "99"));
        assert!(env.iter().any(|(k, _)| k == "FLAKEHUNT_PAD"));
    }

    #[test]
    fn preflight_drops_what_cannot_apply() {
        let mut shake = Shake::parse("pin=1000").expect("valid");
        let warnings = shake.preflight();
        assert_eq!(shake.pin, None);
        assert_eq!(warnings.len(), 1);
    }
}
