//! Reports: renderings of a campaign [`Summary`](crate::analysis::summary::Summary), one file per
//! format, plus the small unit formatters they share.

pub mod json;
pub mod text;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// Short duration for humans: `850us`, `12.3ms`, `4.56s`, `1m5s`, `2h3m`.
pub fn compact_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 0.001 {
        format!("{}us", duration.as_micros())
    } else if seconds < 1.0 {
        format!("{:.1}ms", seconds * 1e3)
    } else if seconds < 60.0 {
        format!("{seconds:.2}s")
    } else {
        let total = duration.as_secs();
        let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
        if hours > 0 {
            format!("{hours}h{minutes}m")
        } else {
            format!("{minutes}m{secs}s")
        }
    }
}

/// A path for display: relative to the current directory when it lies below it.
pub fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    let shown = relative.as_deref().unwrap_or(path);
    crate::text::escape_line(shown.as_os_str().as_bytes(), 4096)
}

/// Integer with thousands separators: `30,000`.
pub fn thousands(value: u64) -> String {
    crate::analysis::stats::group_thousands(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(compact_duration(Duration::from_micros(850)), "850us");
        assert_eq!(compact_duration(Duration::from_micros(12_345)), "12.3ms");
        assert_eq!(compact_duration(Duration::from_millis(4_560)), "4.56s");
        assert_eq!(compact_duration(Duration::from_secs(65)), "1m5s");
        assert_eq!(compact_duration(Duration::from_secs(7_380)), "2h3m");
    }

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(30_000), "30,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
