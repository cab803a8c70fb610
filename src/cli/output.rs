//! Where the command line's output goes. The readable report goes to stdout unless `--quiet`
//! is given or the JSON report goes to stdout (`--json -`: then stdout holds the JSON alone).
//! Notes go to stderr unless `--quiet`. Progress bars (indicatif) go to stderr, and only while
//! both stdout and stderr are terminals and `--quiet` is off, so scripts and pipes never see them.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets `--quiet` for the whole command.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// True under `--quiet`.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// True when `path` is `-`: the report goes to stdout.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether the readable report may go to stdout: not under `--quiet`, and not when `json`
/// (the `--json` value) sends the JSON report there.
pub fn show_report(json: Option<&Path>) -> bool {
    !quiet() && !json.is_some_and(is_stdout)
}

/// Prints a note to stderr unless `--quiet`.
pub fn note(text: &str) {
    if !quiet() {
        eprintln!("note: {text}");
    }
}

/// A progress bar or spinner on stderr, hidden unless stdout and stderr are both terminals and
/// `--quiet` is off; cleared when dropped (also when the work fails).
pub struct Progress(ProgressBar);

impl Progress {
    fn new(len: Option<u64>, template: &str, message: String) -> Progress {
        let visible =
            !quiet() && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(len, target).with_message(message);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if visible {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Progress(bar)
    }

    /// A spinner with the elapsed time, for work of unknown length (a search with a time limit,
    /// a validated run).
    pub fn spinner(message: impl Into<String>) -> Progress {
        Progress::new(None, "{spinner} {msg} [{elapsed}]", message.into())
    }

    /// A bar of `len` steps (models of the demo, configurations of a search).
    pub fn bar(len: u64, message: impl Into<String>) -> Progress {
        Progress::new(
            Some(len),
            "{msg} [{bar:30}] {pos}/{len} [{elapsed}]",
            message.into(),
        )
    }

    /// One step done.
    pub fn inc(&self) {
        self.0.inc(1);
    }

    /// Changes the message (what is being worked on).
    pub fn set_message(&self, message: impl Into<String>) {
        self.0.set_message(message.into());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
