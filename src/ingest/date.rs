//! Dates given on the command line or read from artifact paths, normalised to one sortable
//! RFC 3339 form so that sightings from every source compare as plain strings.

/// Normalise a date (`2021-04-16`, `2021-04-16T03:16:11`, `2021-04-16 03:16:11`, with or
/// without a zone) to RFC 3339 in UTC with whole seconds, or None if it is not a date.
pub fn normalise_date(text: &str) -> Option<String> {
    let text = text.trim();
    let candidate = if text.len() == 10 {
        format!("{text}T00:00:00")
    } else {
        text.replacen(' ', "T", 1)
    };
    let time = humantime::parse_rfc3339_weak(&candidate).ok()?;
    Some(humantime::format_rfc3339_seconds(time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_normalised() {
        assert_eq!(
            normalise_date("2021-04-16").as_deref(),
            Some("2021-04-16T00:00:00Z")
        );
        assert_eq!(
            normalise_date("2021-04-16T03:16:11").as_deref(),
            Some("2021-04-16T03:16:11Z")
        );
        assert_eq!(
            normalise_date("2021-04-16 03:16:11").as_deref(),
            Some("2021-04-16T03:16:11Z")
        );
        assert_eq!(
            normalise_date(" 2021-04-16T03:16:11Z ").as_deref(),
            Some("2021-04-16T03:16:11Z")
        );
        assert_eq!(normalise_date("yesterday"), None);
        assert_eq!(normalise_date("2021-13-40"), None);
    }
}
