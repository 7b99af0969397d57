//! Semantic colour for the terminal text views: failures red, passes green, warnings yellow,
//! secondary information dimmed. Off unless the command line turns it on for a terminal, so
//! JSON, files and the views' tests never carry escape sequences; untrusted bytes are escaped
//! before they reach a view, so every escape sequence in its output is one of these.

use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Effects, Style};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turn colour on or off for the text views rendered from now on.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// What a piece of text means, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Failures and bad verdicts (NOT FIXED, worse).
    Fail,
    /// Passes and good verdicts (FIXED, better).
    Pass,
    /// Something to look at (INCONCLUSIVE, a warning).
    Warn,
    /// Secondary information: labels, paths, column headings.
    Dim,
    /// A heading.
    Heading,
}

impl Role {
    fn style(self) -> Style {
        match self {
            Role::Fail => AnsiColor::Red.on_default().effects(Effects::BOLD),
            Role::Pass => AnsiColor::Green.on_default(),
            Role::Warn => AnsiColor::Yellow.on_default(),
            Role::Dim => Style::new().effects(Effects::DIMMED),
            Role::Heading => Style::new().effects(Effects::BOLD),
        }
    }
}

/// `text` in its role's colour when colour is on; as it is otherwise. Pad before painting:
/// escape sequences have no width but count as characters in `format!` widths.
pub fn paint(role: Role, text: &str) -> String {
    paint_if(ENABLED.load(Ordering::Relaxed), role, text)
}

fn paint_if(enabled: bool, role: Role, text: &str) -> String {
    if !enabled || text.is_empty() {
        return text.to_string();
    }
    let style = role.style();
    format!("{}{text}{}", style.render(), style.render_reset())
}

/// `text` with the escape sequences [`paint`] adds removed (for a line that also goes to a file).
pub fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The switch itself is never flipped here: other tests render views in parallel.
    #[test]
    fn paint_is_plain_unless_enabled_and_plain_undoes_it() {
        assert_eq!(paint_if(false, Role::Fail, "FAIL"), "FAIL");
        let painted = paint_if(true, Role::Fail, "FAIL");
        assert_eq!(painted, "\x1b[1m\x1b[31mFAIL\x1b[0m");
        assert_eq!(plain(&painted), "FAIL");
    }
}
