//! The one progress-bar builder: on stderr, drawn only when it is a terminal.
use std::io::{self, IsTerminal};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps drawn with indicatif's `template`, hidden when `shown` is false or
/// stderr is not a terminal.
pub fn bar(len: u64, template: &str, shown: bool) -> ProgressBar {
    if !shown || !io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    // A template error would be a bug here; fall back to the default look.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
