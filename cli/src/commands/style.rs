//! Colours and text styles: only on a terminal, and never when `NO_COLOR`
//! is set to anything non-empty (<https://no-color.org>). Every styled
//! output goes through here, so that one rule decides.

use std::io::IsTerminal;

/// Whether output to a stream that is (or is not) a terminal may carry
/// colour, given the value of `NO_COLOR`.
pub fn color_allowed(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Whether stderr may carry colour now.
pub fn stderr_color() -> bool {
    color_allowed(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// `text` dimmed (SGR 2) when `color`, else as is.
pub fn dim(text: &str, color: bool) -> String {
    if color {
        format!("\x1b[2m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(color_allowed(true, None));
        assert!(color_allowed(true, Some(OsStr::new(""))));
        assert!(!color_allowed(true, Some(OsStr::new("1"))));
        assert!(!color_allowed(false, None));
        assert_eq!(dim("x", false), "x");
        assert_eq!(dim("x", true), "\x1b[2mx\x1b[0m");
    }
}
