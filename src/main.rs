//! The `tessera` binary: parses the command line and prints any error as one line.

mod cli;

use clap::Parser;

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

fn main() {
    quiet_window_system_probe();
    let cli = cli::Cli::parse();
    let result = cli::dispatch(cli);
    #[cfg(unix)]
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR")
        && dir.contains(&format!("tessera-runtime-{}", std::process::id()))
    {
        let _ = std::fs::remove_dir(dir);
    }
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
