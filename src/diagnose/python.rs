//! Python stacks: a generated `sitecustomize` (first on `PYTHONPATH`) registers CPython's
//! `faulthandler` on a real-time signal, writing every thread's traceback to a file of its own
//! process, then runs whatever `sitecustomize` came next on the path. It never raises: a
//! failure only means no Python stacks for that process. The handler does not chain: the
//! signal's previous action is the default one, which would end the process.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The generated module's directory and the signal it registers.
#[derive(Debug, Clone)]
pub struct PythonHook {
    dir: PathBuf,
    signal: i32,
}

impl PythonHook {
    /// Write the module into `dir` (created); `signal` asks for the dump.
    pub fn write(dir: &Path, signal: i32) -> std::io::Result<PythonHook> {
        std::fs::create_dir_all(dir.join("runs"))?;
        std::fs::write(dir.join("sitecustomize.py"), source(signal))?;
        Ok(PythonHook {
            dir: dir.to_path_buf(),
            signal,
        })
    }

    /// The signal that asks a registered process for its dump.
    pub fn signal(&self) -> i32 {
        self.signal
    }

    /// `PYTHONPATH` for a run: the module's directory ahead of `before`.
    pub fn python_path(&self, before: Option<&OsStr>) -> OsString {
        let mut path = self.dir.clone().into_os_string();
        if let Some(before) = before.filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(before);
        }
        path
    }

    /// Where run `index`'s processes write their dumps (one file per pid).
    pub fn run_dir(&self, index: u64) -> PathBuf {
        self.dir.join("runs").join(index.to_string())
    }
}

/// The module. Its own work sits in one `try`; the chained module is imported outside it, so
/// an error there shows exactly as it would without flakehunt.
fn source(signal: i32) -> String {
    format!(
        r#"# Written by flakehunt for the stacks of hung runs; removed when the campaign ends.
import sys


def _flakehunt_arm(here):
    # A flakehunt run under another flakehunt has both hooks on its path: the nearest one,
    # first on the path, arms; the outer one must not take the signal over.
    if getattr(sys, "_flakehunt_armed", False):
        return
    try:
        import faulthandler, os
        run = os.environ.get("FLAKEHUNT_RUN", "")
        if not run.isdigit():
            return
        sys._flakehunt_armed = True
        folder = os.path.join(here, "runs", run)
        state = {{}}

        def arm():
            try:
                os.makedirs(folder, exist_ok=True)
                dump = open(os.path.join(folder, str(os.getpid())), "w")
                faulthandler.register({signal}, file=dump, all_threads=True, chain=False)
                old = state.get("dump")
                state["dump"] = dump
                if old is not None:
                    old.close()
            except Exception:
                pass

        arm()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=arm)
    except Exception:
        pass


def _flakehunt_next(here):
    # This module must stay in sys.modules unless another one replaces it: the import
    # machinery looks it up there once it ran.
    me = sys.modules.get("sitecustomize")
    found = False
    try:
        import os, importlib.util
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        sys.modules.pop("sitecustomize", None)
        found = importlib.util.find_spec("sitecustomize") is not None
    except Exception:
        found = False
    if not found and me is not None:
        sys.modules["sitecustomize"] = me
    return found


try:
    import os as _os
    _here = _os.path.dirname(_os.path.abspath(__file__))
except Exception:
    _here = None
if _here is not None:
    _flakehunt_arm(_here)
    if _flakehunt_next(_here):
        import sitecustomize
"#
    )
}

/// Whether process `pid` catches `signal` (its `SigCgt` mask in /proc), so that sending it
/// cannot kill the process.
pub fn catches(pid: u32, signal: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let Some(mask) = status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    else {
        return false;
    };
    (1..=64).contains(&signal) && mask & (1u64 << (signal - 1)) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn python() -> Option<&'static str> {
        ["python3", "python"].into_iter().find(|name| {
            Command::new(name)
                .arg("-c")
                .arg("pass")
                .output()
                .is_ok_and(|out| out.status.success())
        })
    }

    #[test]
    fn paths_and_signal_mask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hook = PythonHook::write(dir.path(), 45).expect("write");
        assert_eq!(hook.signal(), 45);
        assert_eq!(hook.python_path(None), dir.path().as_os_str());
        let joined = hook.python_path(Some(OsStr::new("/a:/b")));
        assert_eq!(
            joined,
            OsString::from(format!("{}:/a:/b", dir.path().display()))
        );
        assert_eq!(hook.run_dir(7), dir.path().join("runs").join("7"));
        // The test binary catches no real-time signal.
        assert!(!catches(std::process::id(), 45));
        assert!(!catches(u32::MAX, 45));
    }

    /// The module arms faulthandler, chains to the next sitecustomize, hides itself from
    /// sys.path, and a broken chained module reports exactly as without it.
    #[test]
    fn sitecustomize_arms_and_chains() {
        let Some(python) = python() else {
            panic!("python3 is needed for this test");
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let hook = PythonHook::write(&dir.path().join("hook"), 45).expect("write");
        let user = dir.path().join("user");
        std::fs::create_dir(&user).expect("mkdir");
        std::fs::write(
            user.join("sitecustomize.py"),
            "import os\nos.environ['CHAINED'] = 'yes'\n",
        )
        .expect("write");
        let script = "import os, sys, signal\n\
            print(os.environ.get('CHAINED'), any('hook' in p for p in sys.path))\n\
            os.kill(os.getpid(), 45)\n\
            print('alive')\n";
        let out = Command::new(python)
            .arg("-c")
            .arg(script)
            .env("PYTHONPATH", hook.python_path(Some(user.as_os_str())))
            .env("FLAKEHUNT_RUN", "3")
            .output()
            .expect("python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            "yes False\nalive\n",
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dumps: Vec<_> = std::fs::read_dir(hook.run_dir(3))
            .expect("run dir")
            .collect();
        assert_eq!(dumps.len(), 1);
        let dump = std::fs::read_to_string(dumps[0].as_ref().expect("entry").path()).expect("dump");
        assert!(dump.contains("most recent call first"), "{dump}");
        assert!(dump.contains("<string>"), "{dump}");

        // A chained module that raises: Python's own message, nothing of ours.
        std::fs::write(
            user.join("sitecustomize.py"),
            "raise ValueError('user module')\n",
        )
        .expect("write");
        let run = |path: OsString| {
            let out = Command::new(python)
                .arg("-c")
                .arg("print('ran')")
                .env("PYTHONPATH", path)
                .env("FLAKEHUNT_RUN", "4")
                .output()
                .expect("python");
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (with_hook, with_hook_err) = run(hook.python_path(Some(user.as_os_str())));
        let (without, without_err) = run(user.clone().into_os_string());
        assert_eq!(with_hook, without);
        assert!(
            without_err.contains("Error in sitecustomize"),
            "{without_err}"
        );
        assert!(
            with_hook_err.contains("Error in sitecustomize"),
            "{with_hook_err}"
        );
        assert!(
            with_hook_err.contains("ValueError: user module"),
            "{with_hook_err}"
        );

        // Under a second flakehunt's hook (flakehunt run under flakehunt run), the nearer
        // hook, first on the path, gets the dump; the outer one stays out of it.
        let outer = PythonHook::write(&dir.path().join("outer"), 45).expect("write");
        let outer_path = outer.python_path(None);
        let out = Command::new(python)
            .arg("-c")
            .arg("import os; os.kill(os.getpid(), 45); print('alive')")
            .env("PYTHONPATH", hook.python_path(Some(outer_path.as_os_str())))
            .env("FLAKEHUNT_RUN", "5")
            .output()
            .expect("python");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "alive\n");
        let dumps: Vec<_> = std::fs::read_dir(hook.run_dir(5))
            .expect("inner run dir")
            .collect();
        assert_eq!(dumps.len(), 1);
        let dump = std::fs::read_to_string(dumps[0].as_ref().expect("entry").path()).expect("dump");
        assert!(dump.contains("most recent call first"), "{dump}");
        assert!(!outer.run_dir(5).exists());

        // No run index, or no writable folder: silently nothing.
        let out = Command::new(python)
            .arg("-c")
            .arg("print('ran')")
            .env("PYTHONPATH", hook.python_path(None))
            .env_remove("FLAKEHUNT_RUN")
            .output()
            .expect("python");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    }
}
