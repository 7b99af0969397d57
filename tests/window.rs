//! Integration test of `flakehunt window` on the story's race with a known window: the SIGINT
//! handler is installed D after flakehunt has read "ready", so signals sent earlier than D
//! kill the program.

mod common;

use common::*;

/// Grid points of the sweep over 0..4D: D lies exactly on the boundary between buckets 4 and
/// 5 (grid spacing 2D/9), and the wide range leaves room for a handler that load delays.
const STEPS: u32 = 19;
/// Runs per grid point, spread over the two phases.
const RUNS_PER_STEP: u32 = 20;

/// Maps the window of `late-handler:D`; returns the window's end, the JSON result and the
/// wall time of the whole command in seconds.
fn window_end(handler_delay_us: u64) -> (f64, serde_json::Value, f64) {
    let dir = scratch();
    let started = std::time::Instant::now();
    let output = flakehunt()
        .arg("--db")
        .arg(dir.path().join("h.db"))
        .args([
            "window",
            "--json",
            "--quiet",
            "-j",
            "2",
            "--points",
            &STEPS.to_string(),
            "--runs-per-point",
            &RUNS_PER_STEP.to_string(),
        ])
        .arg("--sweep")
        .arg(format!("sleep 0us..{}us", handler_delay_us * 4))
        .args([
            "--step",
            "wait-output ready within 20s",
            "--step",
            "sleep 0..1ms",
            "--step",
            "signal SIGINT",
            "--step",
            "expect-output \"got signal\" within 10s",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--")
        .arg(fixture())
        .arg(format!("late-handler:{handler_delay_us}"))
        .output()
        .expect("run window");
    let wall_s = started.elapsed().as_secs_f64();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let window = &result["window"];
    assert_eq!(
        window["start_open"], true,
        "the window opens at 'ready': {result}"
    );
    assert_eq!(window["end_open"], false, "{result}");
    // The history keeps the map.
    let conn = rusqlite::Connection::open(dir.path().join("h.db")).expect("db");
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM windows", [], |row| row.get(0))
        .expect("count");
    assert_eq!(stored, 1);
    (window["end_s"].as_f64().expect("end"), result, wall_s)
}

#[test]
fn window_upper_edge_lands_on_the_handler_delay() {
    for delay_us in [2_000u64, 10_000] {
        let delay = delay_us as f64 / 1e6;
        let (end, result, wall_s) = window_end(delay_us);
        let buckets = result["buckets"].as_array().expect("buckets");
        assert_eq!(buckets.len(), STEPS as usize);
        let runs: u64 = buckets
            .iter()
            .map(|b| b["runs"].as_u64().expect("runs"))
            .sum();
        assert_eq!(runs, u64::from(STEPS * RUNS_PER_STEP));

        // Lateness is measured minus requested delay, clamped at zero: ordered quantiles, and
        // no sleep can have overrun the whole command.
        let jitter = &result["jitter"];
        let quantile = |name: &str| jitter[name].as_f64().expect("jitter quantile");
        let (median, p99, max) = (quantile("median_s"), quantile("p99_s"), quantile("max_s"));
        assert!(
            0.0 <= median && median <= p99 && p99 <= max && max < wall_s,
            "jitter {jitter} for a command of {wall_s} s"
        );

        // The fixture installs its handler no earlier than D after flakehunt read "ready", and
        // flakehunt's measured delay runs from that read to after the signal was sent: every
        // run measured below D dies. D is a bucket boundary, so the half-peak crossing cannot
        // fall below it; half a bucket of slack covers a rare run whose timestamps were taken
        // late (flakehunt preempted between the read and its clock reading) and a bucket left
        // empty next to D.
        let width = 4.0 * delay / f64::from(STEPS - 1);
        assert!(
            end >= delay - width / 2.0,
            "window end {end:.6} s before the handler delay {delay:.6} s: {result}"
        );
        // Not guaranteed, only bounded: the handler is late by the fixture's own wake-ups,
        // which its short scheduler slice keeps to a fraction of a millisecond under CPU load,
        // and buckets of about 20 runs keep one very late run from making a bucket look inside
        // the window. A delay counted twice or in the wrong unit, or an edge put at the last
        // failure instead of where the rate halves, would land beyond.
        let bound = 1.5 * delay + 0.001;
        assert!(
            end <= bound,
            "window end {end:.6} s beyond {bound:.6} s for a handler delay of {delay:.6} s: {result}"
        );
    }
}
