//! Load generators for the campaign's lifetime: busy CPU loops with a duty cycle, memory
//! bandwidth thrashers and fsync churners. Each is a `flakehunt __load` process in its own
//! process group with a parent-death signal, watched by the guard, and killed with its group
//! when the campaign ends however it ends (SIGKILL also ends a paused generator); the io
//! churner's files live in a directory that is removed afterwards.

use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::shake::Shake;

/// Hidden subcommand under which the flakehunt binary acts as a load generator.
pub const LOAD_SUBCOMMAND: &str = "__load";

/// Running load generators.
#[derive(Debug, Default)]
pub struct LoadSet {
    children: Vec<Child>,
    scratch: Option<PathBuf>,
}

impl LoadSet {
    /// Start the shake's load generators from `exe`; io churn writes below `scratch_parent`.
    /// `tag` (the campaign id) is passed along so the generators can be told apart in `ps`.
    pub fn start(
        shake: &Shake,
        exe: &Path,
        scratch_parent: &Path,
        cpus: Option<&[usize]>,
        tag: &str,
    ) -> io::Result<LoadSet> {
        let mut set = LoadSet::default();
        let cpu_list = cpus.map(|cpus| {
            cpus.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        let mut launch = |kind: &str, argument: String| -> io::Result<()> {
            let mut command = Command::new(exe);
            command
                .arg(LOAD_SUBCOMMAND)
                .arg(kind)
                .arg(argument)
                .arg(cpu_list.clone().unwrap_or_default())
                .arg(tag)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0);
            // SAFETY: prctl is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(
                        libc::PR_SET_PDEATHSIG,
                        libc::SIGKILL as libc::c_ulong,
                        0,
                        0,
                        0,
                    ) != 0
                    {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            set.children.push(command.spawn()?);
            Ok(())
        };
        if let Some((count, duty)) = shake.cpu_load {
            for _ in 0..count {
                launch("cpu", duty.to_string())?;
            }
        }
        if let Some(count) = shake.mem_load {
            for _ in 0..count {
                launch("mem", String::new())?;
            }
        }
        if let Some(count) = shake.io_load {
            let dir = scratch_parent.join(".io-load");
            std::fs::create_dir_all(&dir)?;
            for i in 0..count {
                launch("io", dir.join(format!("churn-{i}")).display().to_string())?;
            }
            set.scratch = Some(dir);
        }
        Ok(set)
    }

    /// Process group ids of the generators (for the guard).
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Pause every generator (SIGSTOP to its process group): it keeps its memory and files but
    /// takes no CPU until [`resume`](Self::resume).
    pub fn pause(&self) {
        for child in &self.children {
            crate::os::process::signal_group(child.id(), libc::SIGSTOP);
        }
    }

    /// Continue paused generators (SIGCONT to their process groups).
    pub fn resume(&self) {
        for child in &self.children {
            crate::os::process::signal_group(child.id(), libc::SIGCONT);
        }
    }

    /// Kill every generator's group, reap them, and remove their files.
    pub fn stop(&mut self) {
        for child in &mut self.children {
            crate::os::process::signal_group(child.id(), libc::SIGKILL);
            let _ = child.wait();
        }
        self.children.clear();
        if let Some(dir) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for LoadSet {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pin_self(cpus: &str) {
    let cpus: Vec<usize> = cpus.split(',').filter_map(|c| c.parse().ok()).collect();
    if cpus.is_empty() {
        return;
    }
    // Best effort: an unpinned load still loads the machine.
    let _ = crate::os::sched::set_affinity(&crate::os::sched::cpu_set(&cpus));
}

/// Body of a load generator process: `__load cpu DUTY CPUS TAG`, `__load mem - CPUS TAG`,
/// `__load io PATH CPUS TAG`. Runs until killed.
pub fn load_main(args: &[String]) -> i32 {
    let kind = args.first().map(String::as_str).unwrap_or("");
    let argument = args.get(1).map(String::as_str).unwrap_or("");
    pin_self(args.get(2).map(String::as_str).unwrap_or(""));
    match kind {
        "cpu" => {
            let duty: u32 = argument.parse().unwrap_or(100).clamp(1, 100);
            let period = Duration::from_millis(10);
            let busy = period * duty / 100;
            loop {
                let start = Instant::now();
                while start.elapsed() < busy {
                    std::hint::spin_loop();
                }
                if duty < 100 {
                    std::thread::sleep(period - busy);
                }
            }
        }
        "mem" => {
            // Larger than the caches, so every pass goes to memory.
            let mut buffer = vec![0u8; 64 << 20];
            let mut value = 0u8;
            loop {
                value = value.wrapping_add(1);
                for chunk in buffer.chunks_mut(4096) {
                    chunk[0] = value;
                    chunk[2048] = value;
                }
                std::hint::black_box(&buffer);
            }
        }
        "io" => {
            let block = vec![0x5au8; 64 * 1024];
            loop {
                let Ok(mut file) = std::fs::File::create(argument) else {
                    return 1;
                };
                for _ in 0..16 {
                    if file
                        .write_all(&block)
                        .and_then(|()| file.sync_data())
                        .is_err()
                    {
                        return 1;
                    }
                }
                drop(file);
                let _ = std::fs::remove_file(argument);
            }
        }
        _ => 2,
    }
}
