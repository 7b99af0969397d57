//! What a campaign's shakes need while it runs: the preload library, generated Python
//! `sitecustomize` files and load generators, shared by all the campaign's parts. Each distinct
//! load is started the first time one of its parts runs and is paused (SIGSTOP of its process
//! groups) while other parts run, so a hunt never restarts its generators between batches.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::shake::load::LoadSet;
use crate::shake::noise::{self, NoiseLibrary};
use crate::shake::{Freeze, Pin, RunPlacement, Shake};

/// Longest sleep the preload noise injects.
const NOISE_MAX_SLEEP_US: u64 = 200;

/// One distinct set of load generators, by the shake fields that shape it.
#[derive(Debug)]
struct Load {
    /// A shake holding only the load fields (and the CPU list they are pinned to).
    shake: Shake,
    /// Running or paused generators, once started.
    set: Option<LoadSet>,
    /// Where the generators' files go: the campaign's scratch directory for the first load,
    /// a directory of its own (removed afterwards) for each other.
    scratch: PathBuf,
    own_scratch: bool,
}

/// What one part needs from the runtime.
#[derive(Debug)]
struct PartRuntime {
    shake: Option<Arc<Shake>>,
    /// Index into the Python directories.
    python: Option<usize>,
    /// Index into the loads.
    load: Option<usize>,
    /// Variables other parts set per run and this one does not: their inherited values.
    restore: Vec<(OsString, OsString)>,
}

/// The campaign-wide side of its parts' shakes. Dropping it stops the generators and removes
/// the generated files.
#[derive(Debug)]
pub struct ShakeRuntime {
    parts: Vec<PartRuntime>,
    noise: Option<NoiseLibrary>,
    python_dirs: Vec<PathBuf>,
    loads: Vec<Load>,
    /// The load whose generators run now (the others are paused).
    active: Option<usize>,
    exe: Option<PathBuf>,
    tag: String,
    preload_before: Option<OsString>,
    pythonpath_before: Option<OsString>,
}

impl ShakeRuntime {
    /// Prepare the runtime of `parts` (their shakes, None for plain): the preload library and
    /// the Python files now, load generators when [`activate`](Self::activate) first needs
    /// them. `exe` is the flakehunt binary (load generators are flakehunt processes), `scratch`
    /// a directory of the campaign for temporary files, `tag` the campaign id, and `inherited`
    /// gives a variable's value as runs would inherit it.
    pub fn start(
        parts: &[Option<Arc<Shake>>],
        exe: Option<&Path>,
        scratch: &Path,
        tag: &str,
        inherited: &dyn Fn(&OsStr) -> Option<OsString>,
    ) -> Result<ShakeRuntime> {
        let uses = |test: &dyn Fn(&Shake) -> bool| parts.iter().flatten().any(|s| test(s));
        let noise = if uses(&|shake| shake.noise.is_some()) {
            Some(NoiseLibrary::load().context("cannot load the noise library")?)
        } else {
            None
        };
        let mut runtime = ShakeRuntime {
            parts: Vec::with_capacity(parts.len()),
            noise,
            python_dirs: Vec::new(),
            loads: Vec::new(),
            active: None,
            exe: exe.map(Path::to_path_buf),
            tag: tag.to_string(),
            preload_before: inherited(OsStr::new("LD_PRELOAD")),
            pythonpath_before: inherited(OsStr::new("PYTHONPATH")),
        };
        let mut intervals: Vec<Duration> = Vec::new();
        let mut load_shakes: Vec<Shake> = Vec::new();
        let all_keys = union_of_keys(parts);
        for shake in parts {
            let python = match shake.as_deref().and_then(|s| s.py_switch) {
                Some(interval) => Some(match intervals.iter().position(|i| *i == interval) {
                    Some(found) => found,
                    None => {
                        let dir = scratch.join(format!(".py-switch-{}", intervals.len()));
                        write_sitecustomize(&dir, interval).with_context(|| {
                            format!("cannot write the py-switch files in {}", dir.display())
                        })?;
                        runtime.python_dirs.push(dir);
                        intervals.push(interval);
                        intervals.len() - 1
                    }
                }),
                None => None,
            };
            let load = shake.as_deref().filter(|s| s.has_load()).map(|s| {
                let key = load_part(s);
                match load_shakes.iter().position(|known| *known == key) {
                    Some(found) => found,
                    None => {
                        let count = load_shakes.len();
                        runtime.loads.push(Load {
                            shake: key.clone(),
                            set: None,
                            scratch: match count {
                                0 => scratch.to_path_buf(),
                                _ => scratch.join(format!(".load-{count}")),
                            },
                            own_scratch: count > 0,
                        });
                        load_shakes.push(key);
                        load_shakes.len() - 1
                    }
                }
            });
            let own = shake.as_deref().map(per_run_keys).unwrap_or_default();
            let restore = all_keys
                .iter()
                .filter(|key| !own.contains(key))
                .filter_map(|key| inherited(key).map(|value| (key.clone(), value)))
                .collect();
            runtime.parts.push(PartRuntime {
                shake: shake.clone(),
                python,
                load,
                restore,
            });
        }
        Ok(runtime)
    }

    /// Variables any part sets run by run; the shared environment must leave them out.
    pub fn per_run_keys(&self) -> Vec<OsString> {
        let shakes: Vec<Option<Arc<Shake>>> = self.parts.iter().map(|p| p.shake.clone()).collect();
        union_of_keys(&shakes)
    }

    /// The load generators `part` runs with (None: no load). Runs of parts with different loads
    /// must not overlap, or one part's load would perturb another's runs.
    pub fn load_of(&self, part: usize) -> Option<usize> {
        self.parts.get(part).and_then(|p| p.load)
    }

    /// The load that runs now.
    pub fn active_load(&self) -> Option<usize> {
        self.active
    }

    /// Make `part`'s load the one that runs: pause the other, start or continue this one.
    /// Returns the pids of generators started now (for the guard).
    pub fn activate(&mut self, part: usize) -> Result<Vec<u32>> {
        let wanted = self.load_of(part);
        if wanted == self.active {
            return Ok(Vec::new());
        }
        if let Some(set) = self.active.and_then(|i| self.loads[i].set.as_ref()) {
            set.pause();
        }
        self.active = None;
        let Some(index) = wanted else {
            return Ok(Vec::new());
        };
        let load = &mut self.loads[index];
        let started = match &load.set {
            Some(set) => {
                set.resume();
                Vec::new()
            }
            None => {
                let exe = self
                    .exe
                    .as_deref()
                    .context("load generators need the flakehunt binary")?;
                let cpus = match &load.shake.pin {
                    Some(Pin::List(cpus)) => Some(cpus.as_slice()),
                    _ => None,
                };
                let set = LoadSet::start(&load.shake, exe, &load.scratch, cpus, &self.tag)
                    .context("cannot start the load generators")?;
                let pids = set.pids();
                load.set = Some(set);
                pids
            }
        };
        self.active = Some(index);
        Ok(started)
    }

    /// Pids of every load generator started so far (each leads its own process group).
    pub fn load_pids(&self) -> Vec<u32> {
        self.loads
            .iter()
            .filter_map(|load| load.set.as_ref())
            .flat_map(LoadSet::pids)
            .collect()
    }

    /// Whether runs of `part` are shaken at all (and so get a recorded seed).
    pub fn is_shaken(&self, part: usize) -> bool {
        self.shake(part).is_some_and(|shake| !shake.is_plain())
    }

    /// The freezes runs of `part` get.
    pub fn freeze(&self, part: usize) -> Option<Freeze> {
        self.shake(part).and_then(|shake| shake.freeze)
    }

    /// Delay before run `index` of `part` starts (from its seed), if jitter is on.
    pub fn start_delay(&self, part: usize, seed: u64) -> Option<Duration> {
        self.shake(part).and_then(|shake| shake.start_delay(seed))
    }

    fn shake(&self, part: usize) -> Option<&Shake> {
        self.parts.get(part).and_then(|p| p.shake.as_deref())
    }

    /// Environment and placement of run `index` of `part`, whose seed is `seed`.
    pub fn run_setup(
        &self,
        part: usize,
        index: u64,
        seed: u64,
    ) -> (Vec<(OsString, OsString)>, RunPlacement) {
        let Some(runtime) = self.parts.get(part) else {
            return (Vec::new(), RunPlacement::default());
        };
        let mut env = runtime.restore.clone();
        let Some(shake) = runtime.shake.as_deref().filter(|s| !s.is_plain()) else {
            return (env, RunPlacement::default());
        };
        env.extend(shake.run_environment(seed));
        if let (Some(library), Some(probability)) = (&self.noise, shake.noise) {
            env.extend(noise::environment(
                library,
                probability,
                NOISE_MAX_SLEEP_US,
                seed,
                self.preload_before.as_deref(),
            ));
        }
        if let Some(dir) = runtime.python.and_then(|i| self.python_dirs.get(i)) {
            let mut path = dir.clone().into_os_string();
            if let Some(before) = self.pythonpath_before.as_ref().filter(|p| !p.is_empty()) {
                path.push(":");
                path.push(before);
            }
            env.push(("PYTHONPATH".into(), path));
        }
        (env, shake.placement(index, seed))
    }
}

impl Drop for ShakeRuntime {
    fn drop(&mut self) {
        for load in &mut self.loads {
            if let Some(mut set) = load.set.take() {
                set.stop();
            }
            if load.own_scratch {
                let _ = std::fs::remove_dir_all(&load.scratch);
            }
        }
        for dir in self.python_dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The fields of `shake` that decide its load generators.
fn load_part(shake: &Shake) -> Shake {
    Shake {
        cpu_load: shake.cpu_load,
        mem_load: shake.mem_load,
        io_load: shake.io_load,
        pin: match &shake.pin {
            Some(Pin::List(cpus)) => Some(Pin::List(cpus.clone())),
            _ => None,
        },
        ..Shake::default()
    }
}

/// Every variable that some part sets run by run, once each.
fn union_of_keys(parts: &[Option<Arc<Shake>>]) -> Vec<OsString> {
    let mut keys: Vec<OsString> = Vec::new();
    for shake in parts.iter().flatten() {
        for key in per_run_keys(shake) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// Variables a shake sets in runs (removed from the shared environment so the run's win).
pub fn per_run_keys(shake: &Shake) -> Vec<OsString> {
    let mut keys: Vec<OsString> = shake.env.iter().map(|(k, _)| k.into()).collect();
    if shake.noise.is_some() {
        for key in ["LD_PRELOAD", "FLAKEHUNT_NOISE", "FLAKEHUNT_NOISE_MAX_US"] {
            keys.push(key.into());
        }
    }
    if shake.py_switch.is_some() {
        keys.push("PYTHONPATH".into());
    }
    keys
}

/// The generated `sitecustomize.py` for a switch interval of `seconds`. It never raises: every
/// step of its own is guarded, and a `sitecustomize` it stands in front of runs as Python would
/// have run it (its errors, if any, are that file's own, reported as Python always does). It
/// stays in `sys.modules` until the one it stands in front of replaces it, because Python's
/// import machinery looks the module up again once the file has run.
pub fn sitecustomize_source(seconds: f64) -> String {
    // Lines joined explicitly: Python needs the indentation that string continuations drop.
    [
        "# Written by flakehunt --shake py-switch; removed when the campaign ends.",
        "def _flakehunt_py_switch():",
        "    import sys",
        "    try:",
        &format!("        sys.setswitchinterval({seconds:e})"),
        "    except Exception:",
        "        pass",
        "    try:",
        "        import os",
        "        from importlib.machinery import PathFinder",
        "        here = os.path.dirname(os.path.abspath(__file__))",
        "        path = [p for p in sys.path if os.path.abspath(p or '.') != here]",
        "        found = PathFinder.find_spec('sitecustomize', path)",
        "        if found is None or not hasattr(found.loader, 'exec_module'):",
        "            return None",
        "        from importlib.util import module_from_spec",
        "        module = module_from_spec(found)",
        "    except Exception:",
        "        return None",
        "    sys.modules['sitecustomize'] = module",
        "    return found, module",
        "",
        "",
        "_flakehunt_shadowed = _flakehunt_py_switch()",
        "if _flakehunt_shadowed is not None:",
        "    _flakehunt_shadowed[0].loader.exec_module(_flakehunt_shadowed[1])",
        "",
    ]
    .join("\n")
}

/// Write the `sitecustomize.py` that sets a switch interval of `interval` into `dir`.
fn write_sitecustomize(dir: &Path, interval: Duration) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let source = sitecustomize_source(interval.as_secs_f64());
    std::fs::write(dir.join("sitecustomize.py"), source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shake(text: &str) -> Option<Arc<Shake>> {
        (text != "plain").then(|| Arc::new(Shake::parse(text).expect("valid")))
    }

    #[test]
    fn parts_share_equal_loads_and_restore_what_others_override() {
        let dir = tempfile::tempdir().expect("tempdir");
        let parts = [
            shake("plain"),
            shake("cpu-load=1,nice=5"),
            shake("cpu-load=1,sched=idle"),
            shake("mem-load=1"),
            shake("go-procs=1,py-switch=1us"),
            shake("py-switch=1us"),
        ];
        let inherited = |key: &OsStr| (key == "GOMAXPROCS").then(|| OsString::from("8"));
        let runtime =
            ShakeRuntime::start(&parts, None, dir.path(), "t", &inherited).expect("start");
        assert_eq!(runtime.load_of(0), None);
        assert_eq!(runtime.load_of(1), Some(0));
        assert_eq!(
            runtime.load_of(2),
            Some(0),
            "the same generators serve both"
        );
        assert_eq!(runtime.load_of(3), Some(1));
        assert_eq!(runtime.python_dirs.len(), 1, "one file per interval");
        let keys = runtime.per_run_keys();
        assert!(keys.contains(&"GOMAXPROCS".into()) && keys.contains(&"PYTHONPATH".into()));
        // Plain runs keep the GOMAXPROCS they would have had without the hunt.
        let (env, placement) = runtime.run_setup(0, 3, 9);
        assert_eq!(env, vec![("GOMAXPROCS".into(), "8".into())]);
        assert_eq!(placement, RunPlacement::default());
        let (env, _) = runtime.run_setup(4, 3, 9);
        assert!(env.contains(&("GOMAXPROCS".into(), "1".into())));
        assert!(!env.contains(&("GOMAXPROCS".into(), "8".into())));
        assert!(env.iter().any(|(k, _)| k == "PYTHONPATH"));
        assert!(!runtime.is_shaken(0) && runtime.is_shaken(1));
        drop(runtime);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }

    #[test]
    fn loads_need_the_flakehunt_binary_and_plain_needs_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let parts = [shake("plain"), shake("cpu-load=1")];
        let mut runtime =
            ShakeRuntime::start(&parts, None, dir.path(), "t", &|_| None).expect("start");
        assert_eq!(runtime.activate(0).expect("plain"), Vec::<u32>::new());
        let error = runtime.activate(1).expect_err("no binary");
        assert!(
            format!("{error:#}").contains("flakehunt binary"),
            "{error:#}"
        );
        assert_eq!(runtime.active_load(), None);
    }
}
