//! Parsers from the text of stack tools to frames: `eu-stack`, `gdb`'s `thread apply all bt`,
//! CPython's `faulthandler` and Go's goroutine dump. Pure and lenient: a line they do not
//! understand is skipped, never an error.

use crate::record::stacks::{Frame, ThreadStack};

/// Threads in `eu-stack -m -s -i` output (live process or core).
pub fn eu_stack(text: &str) -> Vec<ThreadStack> {
    let mut threads: Vec<ThreadStack> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("TID ") {
            let tid = rest.trim_end_matches(':').trim();
            threads.push(ThreadStack {
                label: format!("thread {tid}"),
                tid: tid.parse().ok(),
                ..ThreadStack::default()
            });
            continue;
        }
        let Some(thread) = threads.last_mut() else {
            continue;
        };
        if let Some(rest) = frame_body(line) {
            thread.frames.push(eu_stack_frame(rest));
        } else if line.starts_with("    ") && !line.trim().is_empty() {
            // The source position of the frame above.
            if let Some(frame) = thread.frames.last_mut() {
                frame.file = Some(strip_line_numbers(line.trim()).to_string());
            }
        }
    }
    threads
}

/// `0x00007f... name - module` (name and module optional).
fn eu_stack_frame(body: &str) -> Frame {
    let body = body.trim();
    let (address, rest) = match body.split_once(char::is_whitespace) {
        Some((first, rest)) if first.starts_with("0x") => (parse_hex(first), rest.trim()),
        _ if body.starts_with("0x") => (parse_hex(body), ""),
        _ => (None, body),
    };
    let (name, module) = match rest.rsplit_once(" - ") {
        Some((name, module)) => (name.trim(), Some(module.trim())),
        None if rest.starts_with("- ") => ("", Some(rest[2..].trim())),
        None => (rest, None),
    };
    Frame {
        function: known_name(name),
        file: None,
        module: module.filter(|m| !m.is_empty()).map(str::to_string),
        address,
    }
}

/// Threads in `gdb -batch -ex 'thread apply all bt'` output, with `set print frame-info
/// location-and-address` and `set print frame-arguments none` (so arguments read `(...)`).
pub fn gdb(text: &str) -> Vec<ThreadStack> {
    let mut threads: Vec<ThreadStack> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Thread ") && line.trim_end().ends_with(':') {
            let tid = line
                .split_once("(LWP ")
                .and_then(|(_, rest)| rest.split(')').next())
                .and_then(|tid| tid.trim().parse().ok());
            let label = match tid {
                Some(tid) => format!("thread {tid}"),
                None => line.trim_end_matches(':').to_string(),
            };
            threads.push(ThreadStack {
                label,
                tid,
                ..ThreadStack::default()
            });
            continue;
        }
        let (Some(thread), Some(body)) = (threads.last_mut(), frame_body(line)) else {
            continue;
        };
        thread.frames.push(gdb_frame(body));
    }
    threads
}

/// `0x... in name (...) at file:line`, `name (...) at file:line`, `0x... in name () from lib`.
fn gdb_frame(body: &str) -> Frame {
    let mut body = body.trim();
    let mut address = None;
    if body.starts_with("0x") {
        if let Some((first, rest)) = body.split_once(" in ") {
            address = parse_hex(first.trim());
            body = rest.trim();
        }
    }
    let mut module = None;
    let mut file = None;
    if let Some((head, lib)) = body.rsplit_once(" from ") {
        module = Some(lib.trim().to_string());
        body = head;
    } else if let Some((head, place)) = body.rsplit_once(" at ") {
        if place
            .rsplit_once(':')
            .is_some_and(|(_, n)| n.trim().parse::<u64>().is_ok())
        {
            file = Some(strip_line_numbers(place.trim()).to_string());
            body = head;
        }
    }
    // The argument list starts at the first " (" (names may hold parentheses, never " (").
    let name = match body.find(" (") {
        Some(at) => &body[..at],
        None => body,
    };
    Frame {
        function: known_name(name.trim()),
        file,
        module,
        address,
    }
}

/// Threads in CPython's `faulthandler` dump (`Thread 0x... (most recent call first):`).
pub fn faulthandler(text: &str) -> Vec<ThreadStack> {
    let mut threads: Vec<ThreadStack> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.ends_with("(most recent call first):") {
            let label = trimmed
                .trim_end_matches("(most recent call first):")
                .trim()
                .to_string();
            threads.push(ThreadStack {
                label,
                ..ThreadStack::default()
            });
            continue;
        }
        let (Some(thread), Some(rest)) = (threads.last_mut(), trimmed.strip_prefix("File \""))
        else {
            continue;
        };
        // File "path", line N in function
        let Some((path, rest)) = rest.split_once('"') else {
            continue;
        };
        let function = rest.split_once(" in ").map(|(_, name)| name.trim());
        thread.frames.push(Frame {
            function: function.and_then(known_name),
            file: Some(path.to_string()),
            module: None,
            address: None,
        });
    }
    threads
}

/// Goroutines in a Go traceback (`goroutine 7 [chan receive]:` stanzas), such as the runtime
/// prints on SIGQUIT or on a fatal error.
pub fn goroutines(text: &str) -> Vec<ThreadStack> {
    let mut threads: Vec<ThreadStack> = Vec::new();
    let mut open = false;
    let mut skip_next_location = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("goroutine ") {
            if let Some((id, state)) = rest.split_once(" [") {
                if id.chars().all(|c| c.is_ascii_digit()) && line.trim_end().ends_with("]:") {
                    let state = state.trim_end().trim_end_matches("]:");
                    // "chan receive, 2 minutes": the waiting time is noise.
                    let state = state.split(',').next().unwrap_or(state).trim();
                    threads.push(ThreadStack {
                        label: format!("goroutine {id} [{state}]"),
                        ..ThreadStack::default()
                    });
                    open = true;
                    continue;
                }
            }
        }
        if line.trim().is_empty() {
            open = false;
            continue;
        }
        let Some(thread) = threads.last_mut().filter(|_| open) else {
            continue;
        };
        if let Some(location) = line.strip_prefix('\t') {
            if std::mem::take(&mut skip_next_location) {
                continue;
            }
            if let Some(frame) = thread.frames.last_mut() {
                let location = location.split(" +0x").next().unwrap_or(location).trim();
                frame.file = Some(strip_line_numbers(location).to_string());
            }
            continue;
        }
        if line.starts_with("created by ") || line.starts_with("...") {
            skip_next_location = line.starts_with("created by ");
            continue;
        }
        thread.frames.push(Frame {
            function: known_name(strip_go_arguments(line.trim())),
            ..Frame::default()
        });
    }
    threads
}

/// `pkg.(*T).Method(0xc000..., 0x1)` -> `pkg.(*T).Method`: the last balanced `(...)`.
fn strip_go_arguments(line: &str) -> &str {
    if !line.ends_with(')') {
        return line;
    }
    let mut depth = 0usize;
    for (at, c) in line.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    return &line[..at];
                }
            }
            _ => {}
        }
    }
    line
}

/// The text after `#N` of a frame line, if `line` is one.
fn frame_body(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('#')?;
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let body = &rest[digits..];
    body.starts_with(char::is_whitespace).then_some(body)
}

/// `path/file.c:12:5` -> `path/file.c`.
fn strip_line_numbers(place: &str) -> &str {
    let mut place = place;
    while let Some((head, tail)) = place.rsplit_once(':') {
        if !tail.is_empty() && tail.chars().all(|c| c.is_ascii_digit()) {
            place = head;
        } else {
            break;
        }
    }
    place
}

fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// A function name, or None for the tools' "unknown" markers. Mangled Rust symbols (legacy
/// `_ZN...17h<hash>E` and v0 `_R...`), which eu-stack and gdb print for stripped or
/// foreign-built binaries, are demangled without their hash: `mycrate::module::function`.
fn known_name(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() || name == "??" || name == "<unknown>" {
        return None;
    }
    Some(demangled(name).unwrap_or_else(|| name.to_string()))
}

/// `name` demangled if it is a mangled Rust symbol, possibly after a `@plt`-style suffix cut.
pub(crate) fn demangled(name: &str) -> Option<String> {
    let (symbol, version) = match name.split_once('@') {
        Some((symbol, version)) => (symbol, Some(version)),
        None => (name, None),
    };
    let demangled = rustc_demangle::try_demangle(symbol).ok()?;
    // `{:#}` leaves out the legacy hash (`::h0123...`) and v0's crate disambiguators.
    let mut out = format!("{demangled:#}");
    if let Some(version) = version {
        out.push('@');
        out.push_str(version);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(thread: &ThreadStack) -> Vec<&str> {
        thread
            .frames
            .iter()
            .map(|f| f.function.as_deref().unwrap_or("??"))
            .collect()
    }

    const EU_STACK: &str = "PID 19476 - process
TID 19476:
#0  0x00007f94fc182f16 __futex_abstimed_wait_common64 - /usr/lib/x86_64-linux-gnu/libc.so.6
    ./nptl/futex-internal.c:57:12
#1  0x00007f94fc187ce3 __pthread_clockjoin_ex - /usr/lib/x86_64-linux-gnu/libc.so.6
    ./nptl/pthread_join_common.c:102:14
#2  0x0000560d402fb5fc main - /tmp/stk/lod
    /src/lock_order_deadlock.c:140:5
#3  0x0000560d402fb191 _start - /tmp/stk/lod
TID 19478:
#0  0x00007f94fc182e96 __futex_abstimed_wait_common - /usr/lib/x86_64-linux-gnu/libc.so.6
#1  0x00007f94fc1899d3 __pthread_mutex_clocklock_common - /usr/lib/x86_64-linux-gnu/libc.so.6
#2  0x0000560d402fb29d lock_or_give_up - /tmp/stk/lod
    /src/lock_order_deadlock.c:70:18
#3  0x00007f94fc2068ec
#4  0x00007f94fc2068ec ?? - /usr/lib/libfoo.so
";

    #[test]
    fn eu_stack_threads_frames_modules_and_files() {
        let threads = eu_stack(EU_STACK);
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].tid, Some(19476));
        assert_eq!(
            names(&threads[0]),
            [
                "__futex_abstimed_wait_common64",
                "__pthread_clockjoin_ex",
                "main",
                "_start"
            ]
        );
        let main = &threads[0].frames[2];
        assert_eq!(main.module.as_deref(), Some("/tmp/stk/lod"));
        assert_eq!(main.file.as_deref(), Some("/src/lock_order_deadlock.c"));
        assert_eq!(main.address, Some(0x560d402fb5fc));
        assert_eq!(threads[0].frames[3].file, None);
        let odd = &threads[1].frames;
        assert_eq!(odd[3].function, None);
        assert_eq!(odd[3].module, None);
        assert_eq!(odd[4].function, None);
        assert_eq!(odd[4].module.as_deref(), Some("/usr/lib/libfoo.so"));
    }

    #[test]
    fn rust_symbols_are_demangled_without_their_hash() {
        let eu = "PID 7 - process
TID 7:
#0  0x0000560d402fb5fc _RNvNtCs9ouqcdLKNTu_7mycrate6module8function - /tmp/x/app
#1  0x0000560d402fb5fd _ZN7mycrate6module8function17h0123456789abcdefE - /tmp/x/app
#2  0x0000560d402fb5fe _ZN7mycrate6module8function17h0123456789abcdefE.llvm.1234 - /tmp/x/app
#3  0x0000560d402fb5ff _ZN3foo3barEv - /usr/lib/libfoo.so
#4  0x0000560d402fb600 _Rnot_a_symbol - /tmp/x/app
";
        let threads = eu_stack(eu);
        assert_eq!(
            names(&threads[0]),
            [
                "mycrate::module::function",
                "mycrate::module::function",
                "mycrate::module::function",
                "_ZN3foo3barEv",
                "_Rnot_a_symbol"
            ]
        );
        let gdb_text = "Thread 1 (Thread 0x7f (LWP 7) \"app\"):
#0  0x0000560d402fb5fc in _RNvNtCs9ouqcdLKNTu_7mycrate6module8function ()
#1  0x0000560d402fb5fd in _ZN7mycrate6module8function17h0123456789abcdefE () from /tmp/x/app
#2  0x0000560d402fb5fe in pthread_cond_wait@@GLIBC_2.3.2 () from /lib/libc.so.6
";
        assert_eq!(
            names(&gdb(gdb_text)[0]),
            [
                "mycrate::module::function",
                "mycrate::module::function",
                "pthread_cond_wait@@GLIBC_2.3.2"
            ]
        );
    }

    const GDB: &str = r#"[New LWP 20305]
[Thread debugging using libthread_db enabled]
__futex_abstimed_wait_common64 (private=128) at ./nptl/futex-internal.c:57
57	./nptl/futex-internal.c: No such file or directory.

Thread 2 (Thread 0x7f856bbc86c0 (LWP 20305) "lod"):
#0  0x00007f856bc51e96 in __futex_abstimed_wait_common (futex_word=..., expected=...) at ./nptl/futex-internal.c:103
#1  0x00007f856bc589d3 in __pthread_mutex_clocklock_common (mutex=...) at ./nptl/pthread_mutex_timedlock.c:88
#2  0x0000559f55deb29d in lock_or_give_up (account=..., held=..., id=...) at /src/lock_order_deadlock.c:70
#3  0x00007f52b200cfb2 in raise () from /lib/x86_64-linux-gnu/libc.so.6
#4  0x0000559f55deb29d in (anonymous namespace)::Pool::run (this=...) at pool.cc:12
#5  0x0000559f55deb29d in main::{lambda()#1}::operator() (...) at main.cc:3
#6  inlined_helper (x=...) at helper.h:4
#7  0x0000555e7bfea143 in ?? ()

Thread 1 (LWP 20706):
#0  0x0000555e7bfea143 in poke_null (p=...) at crash.c:4
[Inferior 1 (process 20303) detached]
"#;

    #[test]
    fn gdb_threads_and_frames() {
        let threads = gdb(GDB);
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].tid, Some(20305));
        assert_eq!(threads[0].label, "thread 20305");
        assert_eq!(
            names(&threads[0]),
            [
                "__futex_abstimed_wait_common",
                "__pthread_mutex_clocklock_common",
                "lock_or_give_up",
                "raise",
                "(anonymous namespace)::Pool::run",
                "main::{lambda()#1}::operator()",
                "inlined_helper",
                "??"
            ]
        );
        let frames = &threads[0].frames;
        assert_eq!(
            frames[2].file.as_deref(),
            Some("/src/lock_order_deadlock.c")
        );
        assert_eq!(frames[2].address, Some(0x559f55deb29d));
        assert_eq!(
            frames[3].module.as_deref(),
            Some("/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(frames[6].address, None);
        assert_eq!(frames[6].file.as_deref(), Some("helper.h"));
        assert_eq!(threads[1].tid, Some(20706));
        assert_eq!(names(&threads[1]), ["poke_null"]);
    }

    const FAULTHANDLER: &str = r#"Thread 0x00007f3b2a1fc640 (most recent call first):
  File "/srv/app/locks.py", line 8 in take_b_then_a
  File "/usr/lib/python3.11/threading.py", line 975 in run
  File "/usr/lib/python3.11/threading.py", line 1038 in _bootstrap_inner

Current thread 0x00007f3b2b7b8740 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 1112 in join
  File "/srv/app/locks.py", line 20 in <module>
  <no Python frame>
"#;

    #[test]
    fn faulthandler_threads() {
        let threads = faulthandler(FAULTHANDLER);
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].label, "Thread 0x00007f3b2a1fc640");
        assert_eq!(
            names(&threads[0]),
            ["take_b_then_a", "run", "_bootstrap_inner"]
        );
        assert_eq!(
            threads[0].frames[0].file.as_deref(),
            Some("/srv/app/locks.py")
        );
        assert_eq!(names(&threads[1]), ["join", "<module>"]);
        assert!(faulthandler("no dump here\n").is_empty());
    }

    const GOROUTINES: &str = "SIGQUIT: quit
PC=0x4602e1 m=0 sigcode=0

goroutine 1 [semacquire, 2 minutes]:
sync.runtime_Semacquire(0xc000012118?)
\t/usr/lib/go-1.19/src/runtime/sema.go:62 +0x25
sync.(*WaitGroup).Wait(0x0?)
\t/usr/lib/go-1.19/src/sync/waitgroup.go:139 +0x52
main.main()
\t/src/hang/main.go:30 +0x125

goroutine 6 [sync.Mutex.Lock]:
sync.runtime_SemacquireMutex(0xc00001c0dc?, 0x0?, 0x1?)
\t/usr/lib/go-1.19/src/runtime/sema.go:77 +0x25
sync.(*Mutex).lockSlow(0xc00001c0d8)
\t/usr/lib/go-1.19/src/sync/mutex.go:171 +0x165
main.takeBThenA({0x4b2f60, 0xc00009e000})
\t/src/hang/main.go:18 +0x85
created by main.main in goroutine 1
\t/src/hang/main.go:25 +0xa5

rax    0xca
";

    #[test]
    fn goroutine_dump() {
        let threads = goroutines(GOROUTINES);
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0].label, "goroutine 1 [semacquire]");
        assert_eq!(
            names(&threads[0]),
            [
                "sync.runtime_Semacquire",
                "sync.(*WaitGroup).Wait",
                "main.main"
            ]
        );
        assert_eq!(
            threads[0].frames[2].file.as_deref(),
            Some("/src/hang/main.go")
        );
        assert_eq!(
            names(&threads[1]),
            [
                "sync.runtime_SemacquireMutex",
                "sync.(*Mutex).lockSlow",
                "main.takeBThenA"
            ]
        );
        assert_eq!(
            threads[1].frames[2].file.as_deref(),
            Some("/src/hang/main.go")
        );
        assert!(goroutines("goroutine x [y]:\nmain.f()\n").is_empty());
    }
}
