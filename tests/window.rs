//! Integration test of `flakehunt window` on the story's race with a known window: the SIGINT
//! handler is installed D after "ready", so signals sent earlier than D kill the program.

mod common;

use common::*;

fn window_end(handler_delay_us: u64) -> (f64, serde_json::Value) {
    let dir = scratch();
    let output = flakehunt()
        .arg("--db")
        .arg(dir.path().join("h.db"))
        .args([
            "window",
            "--json",
            "--quiet",
            "-j",
            "2",
            "--steps",
            "20",
            "--runs-per-step",
            "20",
        ])
        .arg("--sweep")
        .arg(format!("sleep 0us..{}us", handler_delay_us * 2))
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
    (window["end_s"].as_f64().expect("end"), result)
}

#[test]
fn window_upper_edge_lands_on_the_handler_delay() {
    for delay_us in [2_000u64, 10_000] {
        let expected = delay_us as f64 / 1e6;
        // Load from outside the test really widens the window (the handler's thread wakes up
        // late), so a measurement is retried: the capability is to find the edge when the
        // machine lets it, not on every try under arbitrary load.
        let mut attempts = Vec::new();
        let mut landed = false;
        for _ in 0..3 {
            let (end, result) = window_end(delay_us);
            let buckets = result["buckets"].as_array().expect("buckets");
            assert_eq!(buckets.len(), 20);
            let runs: u64 = buckets
                .iter()
                .map(|b| b["runs"].as_u64().expect("runs"))
                .sum();
            assert_eq!(runs, 400);
            assert!(result["jitter"]["p99_s"].as_f64().expect("jitter") >= 0.0);
            attempts.push(end);
            if (end - expected).abs() <= 0.2 * expected {
                landed = true;
                break;
            }
        }
        assert!(
            landed,
            "window end not within 20% of the handler delay {expected:.6}s in any attempt: {attempts:?}"
        );
    }
}
