//! The `tessera` binary: parses the command line and prints any error as one line.

mod cli;

/// On headless Linux machines without `XDG_RUNTIME_DIR`, the Vulkan loader's window-system
/// probing makes libwayland print "error: XDG_RUNTIME_DIR is invalid" lines that look like
/// tessera errors. Give it a private empty directory instead (compute needs no window system).
#[cfg(unix)]
fn quiet_window_system_probe() {
    use std::os::unix::fs::DirBuilderExt;
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tessera-runtime-{}", std::process::id()));
    if std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(&dir)
        .is_ok()
    {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

#[cfg(not(unix))]
fn quiet_window_system_probe() {}

/// Rust ignores SIGPIPE, so `tessera plan ... | head` would panic on the first write after
/// `head` exits ("failed printing to stdout: Broken pipe"). Restore the default action, as other
/// Unix command-line tools have it: the process ends quietly when its reader goes away.
#[cfg(unix)]
fn quiet_broken_pipe() {
    // SAFETY: called first thing in `main`, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn quiet_broken_pipe() {}

/// Parses the command line; a usage error (unknown option, bad number, missing value) becomes
/// one `error:` line and exit code 2, like every other error. Help and version print as usual.
fn parse_args() -> cli::Cli {
    use clap::error::ErrorKind;
    match cli::Cli::try_parse_marked() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("error: {} (see `tessera --help`)", one_line(&e.to_string()));
            std::process::exit(2);
        }
    }
}

/// The first line of clap's message without its `error: ` prefix.
fn one_line(message: &str) -> &str {
    let first = message.lines().next().unwrap_or("bad command line");
    first.strip_prefix("error: ").unwrap_or(first).trim()
}

fn main() {
    quiet_broken_pipe();
    quiet_window_system_probe();
    let cli = parse_args();
    let result = cli::dispatch(cli);
    #[cfg(unix)]
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR")
        && dir.contains(&format!("tessera-runtime-{}", std::process::id()))
    {
        let _ = std::fs::remove_dir(dir);
    }
    if let Err(e) = result {
        // Errors quote untrusted text escaped already; this keeps the promise of one line.
        eprintln!("error: {}", e.to_string().replace(['\n', '\r'], " "));
        std::process::exit(2);
    }
}
