//! The demo's words around its campaign: what the racy program is, and what to do next once
//! the race was caught (or why it was not).

use std::fmt::Write;

use crate::analysis::summary::Summary;
use crate::report::format::{display_path, thousands};

/// Printed before the campaign starts.
pub const INTRO: &str = "\
flakehunt demo: a Linux analogue of Go issue 45638 (TestLibraryCtrlHandler).
  The racy program prints \"ready\" before its background initialiser has installed the SIGINT
  handler. The driver waits for \"ready\", sends SIGINT, and fails if the program died instead of
  reporting the signal; when it fails it also dumps binary garbage, as the real crash did.
  flakehunt reruns the driver in parallel until the race is caught, escapes the garbage on screen,
  keeps the raw bytes on disk, clusters the failures and states the rate with its interval.
";

/// Printed after the summary: the commands worth trying next, lined up with their comments.
pub fn next_steps(summary: &Summary) -> String {
    let mut out = String::new();
    if summary.failures == 0 {
        let _ = writeln!(
            out,
            "\nNot reproduced in {} runs on this machine: the race window is timing-dependent. \
             Try again with more runs: flakehunt demo -n 100000 --duration 10m",
            thousands(summary.runs)
        );
        return out;
    }
    let first = summary
        .signatures
        .iter()
        .map(|signature| signature.first_run)
        .min()
        .unwrap_or(0);
    let steps = [
        (
            format!("flakehunt log last {first}"),
            "that failure's output, escaped",
        ),
        (
            format!("flakehunt log last {first} --raw > failure.bin"),
            "the raw bytes, binary garbage included",
        ),
        (
            "flakehunt show last".to_string(),
            "this summary again, from the history",
        ),
        (
            "flakehunt plan --campaign last".to_string(),
            "runs needed to call a fix proven",
        ),
        ("flakehunt history".to_string(), "every campaign so far"),
    ];
    let width = steps
        .iter()
        .map(|(command, _)| command.len())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "\nCaught it: {} failure(s) in {} runs. Next steps:",
        thousands(summary.failures),
        thousands(summary.runs)
    );
    for (command, why) in &steps {
        let _ = writeln!(out, "  {command:<width$}  # {why}");
    }
    let _ = writeln!(
        out,
        "  saved output and events.ndjson: {}",
        display_path(&summary.out_dir)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_steps_after_a_catch_line_up() {
        let summary = crate::report::summary::tests::sample_summary();
        insta::assert_snapshot!(next_steps(&summary));
    }

    #[test]
    fn next_steps_without_a_catch_suggest_more_runs() {
        let mut summary = crate::report::summary::tests::sample_summary();
        summary.failures = 0;
        summary.signatures.clear();
        let text = next_steps(&summary);
        assert!(text.contains("Not reproduced in 3,000 runs"), "{text}");
    }
}
