//! Signal names: the table of standard Linux signals, number-to-name and name-to-number.

/// Name of a signal number (`SIGSEGV`), or `SIG<n>` for numbers outside the table (`SIG40`
/// for a realtime signal).
pub fn signal_name(signal: i32) -> String {
    match known_name(signal) {
        Some(name) => name.to_string(),
        None => format!("SIG{signal}"),
    }
}

/// Name of a signal number if it is one of the standard signals (`SIGSEGV`), without allocating.
pub fn known_name(signal: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|(_, number)| *number == signal)
        .map(|(name, _)| *name)
}

/// Signal number for a name like `SIGQUIT`, `quit` or `3`. Numbers must be 1 to 64.
pub fn parse_signal(text: &str) -> Option<i32> {
    let trimmed = text.trim();
    if let Ok(number) = trimmed.parse::<i32>() {
        return (1..=64).contains(&number).then_some(number);
    }
    let upper = trimmed.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS
        .iter()
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, number)| *number)
}

const SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGSYS", libc::SIGSYS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_round_trip() {
        assert_eq!(parse_signal("SIGQUIT"), Some(libc::SIGQUIT));
        assert_eq!(parse_signal("quit"), Some(libc::SIGQUIT));
        assert_eq!(parse_signal("abrt"), Some(libc::SIGABRT));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("0"), None);
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(40), "SIG40");
    }

    #[test]
    fn every_name_parses_back_to_its_number() {
        for (name, number) in SIGNALS {
            assert_eq!(signal_name(*number), *name);
            assert_eq!(parse_signal(name), Some(*number), "{name}");
            assert_eq!(
                parse_signal(&name[3..].to_lowercase()),
                Some(*number),
                "{name}"
            );
            assert_eq!(parse_signal(&number.to_string()), Some(*number), "{name}");
        }
    }

    #[test]
    fn parsing_edges() {
        assert_eq!(parse_signal("  term \n"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("SigInt"), Some(libc::SIGINT));
        assert_eq!(parse_signal("64"), Some(64));
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("-9"), None);
        assert_eq!(parse_signal(""), None);
        assert_eq!(parse_signal("SIG"), None);
        assert_eq!(known_name(libc::SIGKILL), Some("SIGKILL"));
        assert_eq!(known_name(0), None);
        assert_eq!(signal_name(0), "SIG0");
    }
}
