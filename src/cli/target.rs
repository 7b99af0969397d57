//! Test-target arguments shared by every campaign command: one test of a Rust, Go or Python
//! project instead of `-- COMMAND`, per-test parsing of a suite (`--suite`), and
//! `--only-flaky` to hunt a suite campaign's flaky tests one by one.

use clap::Args;

use crate::target::{SuiteKind, TargetRequest};

/// Arguments naming a test target or a suite.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Test targets (instead of -- COMMAND)")]
pub struct TargetArgs {
    /// Rerun one Rust test: built once with `cargo test --no-run`, then its test binary runs
    /// `NAME --exact --test-threads=1` (a unique `::NAME` ending is enough).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["go_test", "pytest", "test_name", "only_flaky"])]
    pub cargo_test: Option<String>,

    /// Package of `--cargo-test` (cargo's -p).
    #[arg(
        short = 'p',
        long = "package",
        value_name = "PKG",
        requires = "cargo_test"
    )]
    pub package: Option<String>,

    /// Features of `--cargo-test` (cargo's --features).
    #[arg(long, value_name = "FEATURES", requires = "cargo_test")]
    pub features: Option<String>,

    /// Rerun one Go test of package PKG (name it with --go-run): built once with `go test -c`,
    /// then the binary runs `-test.run '^NAME$' -test.count=1 -test.v`.
    #[arg(long, value_name = "PKG", requires = "go_run", conflicts_with_all = ["pytest", "test_name", "only_flaky"])]
    pub go_test: Option<String>,

    /// The Go test of `--go-test`, as go test's -run takes it (`TestX`, or `TestX/subtest`).
    // Not `--run`, which reads like `--runs`; that spelling still works.
    #[arg(
        long = "go-run",
        alias = "run",
        id = "go_run",
        value_name = "NAME",
        requires = "go_test"
    )]
    pub go_run: Option<String>,

    /// Build the Go test with the race detector (`go test -c -race`).
    #[arg(long, requires = "go_test")]
    pub race: bool,

    /// Rerun one pytest test: `python -m pytest NODEID -p no:cacheprovider`, with the Python a
    /// shell here would use (an active virtualenv first) and a JUnit report per run.
    #[arg(long, value_name = "NODEID", conflicts_with_all = ["test_name", "only_flaky"])]
    pub pytest: Option<String>,

    /// Rerun one test, the runner picked from the project's files (Cargo.toml, go.mod, pytest
    /// configuration); says which it chose.
    #[arg(
        long = "test",
        id = "test_name",
        value_name = "NAME",
        conflicts_with = "only_flaky"
    )]
    pub test_name: Option<String>,

    /// Read each run's output test by test as this kind of suite (automatic for `cargo test`,
    /// `cargo nextest run`, `go test` and `pytest` commands).
    #[arg(long, value_name = "KIND", value_enum)]
    pub suite: Option<SuiteKind>,

    /// Hunt each flaky test of a suite campaign alone, one campaign per test (`flakehunt run`
    /// only) [default campaign: the last one with flaky tests].
    // Hidden except on `run` (the others refuse it with a pointer to `run`).
    #[arg(
        long,
        value_name = "CAMPAIGN",
        num_args = 0..=1,
        default_missing_value = "last",
        hide = true
    )]
    pub only_flaky: Option<String>,
}

impl TargetArgs {
    /// The target asked for, if any.
    pub fn request(&self) -> Option<TargetRequest> {
        if let Some(name) = &self.cargo_test {
            return Some(TargetRequest::Cargo {
                name: name.clone(),
                package: self.package.clone(),
                features: self.features.clone(),
            });
        }
        if let (Some(package), Some(name)) = (&self.go_test, &self.go_run) {
            return Some(TargetRequest::Go {
                package: package.clone(),
                name: name.clone(),
                race: self.race,
            });
        }
        if let Some(node_id) = &self.pytest {
            return Some(TargetRequest::Pytest {
                node_id: node_id.clone(),
            });
        }
        self.test_name
            .clone()
            .map(|name| TargetRequest::Auto { name })
    }

    /// True when a target (or `--only-flaky`) stands for the command.
    pub fn replaces_command(&self) -> bool {
        self.request().is_some() || self.only_flaky.is_some()
    }
}
