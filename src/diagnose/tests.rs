//! Stack signatures from captured tool output: the same hang read by different tools or on
//! different runs clusters, different hangs separate.

use super::*;
use crate::analysis::signature::{signature_with_stacks, stack_summary};
use crate::record::stacks::ThreadStack;

fn stacks(kind: StacksKind, runtime: Runtime, threads: Vec<ThreadStack>) -> Stacks {
    Stacks {
        kind,
        processes: vec![ProcessStacks {
            pid: 1,
            name: "prog".into(),
            runtime,
            tool: "test".into(),
            threads,
        }],
        text: String::new(),
        notes: Vec::new(),
        core: None,
    }
}

/// eu-stack on the deadlock fixture (two lock takers, main joining).
const DEADLOCK_EU: &str = "PID 4242 - process
TID 4242:
#0  0x00007f94fc182f16 __futex_abstimed_wait_common64 - /usr/lib/x86_64-linux-gnu/libc.so.6
    ./nptl/futex-internal.c:57:12
#1  0x00007f94fc182f16 __futex_abstimed_wait_common - /usr/lib/x86_64-linux-gnu/libc.so.6
#2  0x00007f94fc187ce3 __pthread_clockjoin_ex - /usr/lib/x86_64-linux-gnu/libc.so.6
#3  0x0000560d402fb5fc main - /tmp/x/deadlock
    /src/deadlock.c:40:5
#4  0x00007f94fc12424a __libc_start_call_main - /usr/lib/x86_64-linux-gnu/libc.so.6
TID 4244:
#0  0x00007f94fc182e96 futex_wait - /usr/lib/x86_64-linux-gnu/libc.so.6
#1  0x00007f94fc182e96 __GI___lll_lock_wait - /usr/lib/x86_64-linux-gnu/libc.so.6
#2  0x00007f94fc1899d3 lll_mutex_lock_optimized - /usr/lib/x86_64-linux-gnu/libc.so.6
#3  0x00007f94fc1899d3 ___pthread_mutex_lock - /usr/lib/x86_64-linux-gnu/libc.so.6
#4  0x0000560d402fb29d take_a_then_b - /tmp/x/deadlock
#5  0x00007f94fc1861f5 start_thread - /usr/lib/x86_64-linux-gnu/libc.so.6
#6  0x00007f94fc2068ec __clone3 - /usr/lib/x86_64-linux-gnu/libc.so.6
TID 4245:
#0  0x00007f94fc182e96 futex_wait - /usr/lib/x86_64-linux-gnu/libc.so.6
#1  0x00007f94fc182e96 __GI___lll_lock_wait - /usr/lib/x86_64-linux-gnu/libc.so.6
#2  0x00007f94fc1899d3 ___pthread_mutex_lock - /usr/lib/x86_64-linux-gnu/libc.so.6
#3  0x0000560d402fb31d take_b_then_a - /tmp/x/deadlock
#4  0x00007f94fc1861f5 start_thread - /usr/lib/x86_64-linux-gnu/libc.so.6
";

/// gdb on the same deadlock in another run: other ids, addresses, thread order and internals.
const DEADLOCK_GDB: &str = r#"Thread 3 (Thread 0x7f856b3c76c0 (LWP 9001) "deadlock"):
#0  0x00007f856bc51e96 in futex_wait (...) at ../sysdeps/nptl/futex-internal.h:146
#1  0x00007f856bc51e96 in __GI___lll_lock_wait (...) at ./nptl/lowlevellock.c:49
#2  0x00007f856bc589d3 in lll_mutex_lock_optimized (...) at ./nptl/pthread_mutex_lock.c:48
#3  0x00007f856bc589d3 in ___pthread_mutex_lock (...) at ./nptl/pthread_mutex_lock.c:93
#4  0x0000559f55deb31d in take_b_then_a (...) at /src/deadlock.c:30
#5  0x00007f856bc551f5 in start_thread (...) at ./nptl/pthread_create.c:442
#6  0x00007f856bcd58ec in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81

Thread 2 (Thread 0x7f856bbc86c0 (LWP 9000) "deadlock"):
#0  0x00007f856bc51e96 in __futex_abstimed_wait_common (...) at ./nptl/futex-internal.c:103
#1  0x00007f856bc51f68 in __GI___lll_lock_wait (...) at ./nptl/lowlevellock.c:49
#2  0x00007f856bc5921a in ___pthread_mutex_lock (...) at ./nptl/pthread_mutex_lock.c:93
#3  0x0000559f55deb29d in take_a_then_b (...) at /src/deadlock.c:20
#4  0x00007f856bc551f5 in start_thread (...) at ./nptl/pthread_create.c:442

Thread 1 (Thread 0x7f856bbc9740 (LWP 8999) "deadlock"):
#0  0x00007f856bc51f16 in __futex_abstimed_wait_common64 (...) at ./nptl/futex-internal.c:57
#1  0x00007f856bc56ce3 in __pthread_clockjoin_ex (...) at ./nptl/pthread_join_common.c:102
#2  0x00007f856bc56b8f in ___pthread_join (...) at ./nptl/pthread_join.c:24
#3  0x0000559f55deb5fc in main () at /src/deadlock.c:40
#4  0x00007f856bc0024a in __libc_start_call_main (...) at ../sysdeps/nptl/libc_start_call_main.h:58
"#;

/// eu-stack on a lost wakeup: the waiter in a condition wait, main joining.
const LOST_WAKEUP_EU: &str = "TID 77:
#0  0x00007f94fc182f16 __futex_abstimed_wait_common64 - /usr/lib/x86_64-linux-gnu/libc.so.6
#1  0x00007f94fc187ce3 __pthread_clockjoin_ex - /usr/lib/x86_64-linux-gnu/libc.so.6
#2  0x0000560d402fb5fc main - /tmp/x/lost_wakeup
#3  0x00007f94fc12424a __libc_start_call_main - /usr/lib/x86_64-linux-gnu/libc.so.6
TID 78:
#0  0x00007f94fc182f16 __futex_abstimed_wait_common64 - /usr/lib/x86_64-linux-gnu/libc.so.6
#1  0x00007f94fc185a41 __pthread_cond_wait_common - /usr/lib/x86_64-linux-gnu/libc.so.6
#2  0x00007f94fc185a41 pthread_cond_wait@@GLIBC_2.3.2 - /usr/lib/x86_64-linux-gnu/libc.so.6
#3  0x0000560d402fb29d waiter - /tmp/x/lost_wakeup
#4  0x00007f94fc1861f5 start_thread - /usr/lib/x86_64-linux-gnu/libc.so.6
";

#[test]
fn deadlock_signature_names_both_lock_takers_and_is_tool_independent() {
    let eu = stacks(
        StacksKind::Hang,
        Runtime::Native,
        parse::eu_stack(DEADLOCK_EU),
    );
    let gdb = stacks(StacksKind::Hang, Runtime::Native, parse::gdb(DEADLOCK_GDB));
    let summary = stack_summary(&eu).expect("frames");
    assert_eq!(
        summary,
        "hang: pthread_join <- main | \
         pthread_mutex_lock <- take_a_then_b <- start_thread | \
         pthread_mutex_lock <- take_b_then_a <- start_thread"
    );
    assert_eq!(stack_summary(&gdb).as_deref(), Some(summary.as_str()));
    let label = "timeout (SIGQUIT)";
    let a = signature_with_stacks(label, Some(&eu), Some(b"waiting 3s"), &[]);
    let b = signature_with_stacks(label, Some(&gdb), Some(b"waiting 9s"), &[]);
    assert_eq!(a, b);
    assert_eq!(a.text, format!("{label}: {summary}"));

    let lost = stacks(
        StacksKind::Hang,
        Runtime::Native,
        parse::eu_stack(LOST_WAKEUP_EU),
    );
    let c = signature_with_stacks(label, Some(&lost), None, &[]);
    assert_eq!(
        c.text,
        "timeout (SIGQUIT): hang: pthread_cond_wait <- waiter <- start_thread | \
         pthread_join <- main"
    );
    assert_ne!(a.id, c.id);
    // Without frames the signature is the one from the output, as before.
    let empty = stacks(StacksKind::Hang, Runtime::Native, Vec::new());
    let tail = vec![b"step 3".to_vec()];
    assert_eq!(
        signature_with_stacks(label, Some(&empty), None, &tail),
        crate::analysis::signature::signature_for(label, None, &tail)
    );
}

#[test]
fn crash_signature_uses_the_crashed_thread_and_the_telling_line() {
    let core = "PID 20716 - core
TID 20717:
#0  0x00007f52b205beec __futex_abstimed_wait_common - libc.so.6
#1  0x000055872da08153 idle_worker - /tmp/crash
TID 20716:
#0  0x00007f52b205beec __pthread_kill_implementation - libc.so.6
#1  0x00007f52b200cfb2 raise - libc.so.6
#2  0x00007f52b1ff7472 abort - libc.so.6
#3  0x000055872da08153 give_up - /tmp/crash
#4  0x000055872da08175 main - /tmp/crash
";
    let mut threads = parse::eu_stack(core);
    threads[1].crashed = true;
    let crash = stacks(StacksKind::Crash, Runtime::Native, threads);
    assert_eq!(
        stack_summary(&crash).as_deref(),
        Some("crash: abort <- give_up <- main")
    );
    let with_line = signature_with_stacks(
        "signal SIGABRT",
        Some(&crash),
        Some(b"prog: main.c:10: main: Assertion `n > 0' failed."),
        &[],
    );
    assert_eq!(
        with_line.text,
        "signal SIGABRT: prog: main.c:10: main: Assertion `n > N' failed. | crash: abort <- give_up <- main"
    );
    // A segfault in a program frame: that frame first.
    let segv = "TID 5:\n#0  0x0000555e7bfea143 poke_null - /tmp/crash\n#1  0x0000555e7bfea166 main - /tmp/crash\n#2  0x00007f2e70a6924a __libc_start_call_main - libc.so.6\n";
    let segv = stacks(StacksKind::Crash, Runtime::Native, parse::eu_stack(segv));
    assert_eq!(
        stack_summary(&segv).as_deref(),
        Some("crash: poke_null <- main")
    );
}

#[test]
fn python_and_go_frames() {
    let dump = r#"Thread 0x00007f3b2a1fc640 (most recent call first):
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py", line 320 in wait
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py", line 622 in wait
  File "/srv/app/jobs.py", line 12 in consumer
  File "/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py", line 975 in run

Current thread 0x00007f3b2b7b8740 (most recent call first):
  File "/srv/app/jobs.py", line 30 in <module>
"#;
    let python = stacks(StacksKind::Hang, Runtime::Python, parse::faulthandler(dump));
    assert_eq!(
        stack_summary(&python).as_deref(),
        Some("hang: <module> (jobs.py) | wait (threading.py) <- consumer (jobs.py) <- run (threading.py)")
    );
    let go = "goroutine 6 [sync.Mutex.Lock]:
sync.runtime_SemacquireMutex(0xc00001c0dc?, 0x0?, 0x1?)
\t/usr/lib/go/src/runtime/sema.go:77 +0x25
sync.(*Mutex).lockSlow(0xc00001c0d8)
\t/usr/lib/go/src/sync/mutex.go:171 +0x165
sync.(*Mutex).Lock(...)
\t/usr/lib/go/src/sync/mutex.go:90
main.takeBThenA()
\t/src/hang/main.go:18 +0x85
created by main.main
\t/src/hang/main.go:25 +0xa5
";
    let go = stacks(StacksKind::Hang, Runtime::Go, parse::goroutines(go));
    assert_eq!(
        stack_summary(&go).as_deref(),
        Some("hang: sync.(*Mutex).Lock <- main.takeBThenA")
    );
}

#[test]
fn go_dump_is_taken_from_the_output() {
    let mut hang = Stacks {
        kind: StacksKind::Hang,
        processes: vec![ProcessStacks {
            pid: 9,
            name: "server".into(),
            runtime: Runtime::Go,
            tool: "go".into(),
            threads: Vec::new(),
        }],
        text: "# header\n".into(),
        notes: Vec::new(),
        core: None,
    };
    let output = OutputStore::Memory {
        bytes: b"starting\nSIGQUIT: quit\nPC=0x1 m=0 sigcode=0\n\ngoroutine 1 [chan receive]:\nmain.main()\n\t/src/main.go:9 +0x1d\n".to_vec(),
        segments: Vec::new(),
    };
    attach_go_dump(&mut hang, &output);
    assert_eq!(hang.processes[0].threads.len(), 1);
    assert!(hang.text.starts_with("# header\n"));
    assert!(hang.text.contains("goroutine 1 [chan receive]"));
    assert!(!hang.text.contains("starting"));
}

#[test]
fn stat_fields_survive_odd_command_names() {
    assert_eq!(
        stat_fields("123 (a) b (c) S 1 456 456 0 -1"),
        Some(('S', 456))
    );
    assert_eq!(stat_fields("garbage"), None);
    assert!(group_members(u32::MAX).is_empty());
    assert!(is_crash_signal(libc::SIGSEGV));
    assert!(!is_crash_signal(libc::SIGTERM));
}

/// Every message the campaign shows about stacks, pinned.
#[test]
fn messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut diagnoser =
        Diagnoser::start(&dir.path().join("work"), dir.path(), libc::SIGQUIT).expect("diagnoser");
    let mut lines = Vec::new();
    diagnoser.tools = Arc::new(Tools::default());
    lines.push(diagnoser.hang_warning().unwrap_or_default());
    assert_eq!(diagnoser.hang_warning(), None, "said once");
    let settings = |pattern: &str| KernelCoreSettings {
        pattern: pattern.into(),
        uses_pid: false,
    };
    let cwd = Path::new("/nonexistent/project");
    for (pattern, limits) in [
        (
            "|/usr/lib/systemd/systemd-coredump %P %u %g %s %t %c %h",
            (0, u64::MAX),
        ),
        ("core", (0, 0)),
        ("/var/crash/%e/core", (0, u64::MAX)),
        ("core", (0, u64::MAX)),
    ] {
        diagnoser.cores = self::core::plan(Some(&settings(pattern)), cwd, limits);
        diagnoser.warned_cores = false;
        lines.push(diagnoser.crash_warning(libc::SIGSEGV).unwrap_or_default());
        assert_eq!(diagnoser.crash_warning(libc::SIGSEGV), None, "said once");
    }
    let existing = dir.path().join("project");
    std::fs::create_dir_all(existing.join("core")).expect("mkdir");
    diagnoser.cores = self::core::plan(Some(&settings("core")), &existing, (0, u64::MAX));
    diagnoser.warned_cores = false;
    lines.push(
        diagnoser
            .crash_warning(libc::SIGABRT)
            .unwrap_or_default()
            .replace(&dir.path().display().to_string(), "<dir>"),
    );
    std::fs::remove_dir(existing.join("core")).expect("rmdir");
    diagnoser.cores = self::core::plan(Some(&settings("core")), &existing, (0, u64::MAX));
    lines.push(
        diagnoser
            .lost_core()
            .text
            .replace(&dir.path().display().to_string(), "<dir>"),
    );
    lines.push(crate::report::history::stacks_heading("run-000017.stacks"));
    insta::assert_snapshot!(lines.join("\n---\n"));
}
