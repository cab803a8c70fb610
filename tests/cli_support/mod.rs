//! Helpers shared by the command-line tests: run the real `tessera` binary, assert a one-line
//! error, and a per-process scratch folder for JSON reports.

#![allow(dead_code)] // each test file uses some of these

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `tessera` binary built for these tests with `args`.
pub fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .expect("run tessera")
}

/// Asserts failure with exactly one `error:` line on stderr that mentions every `needle`.
pub fn fails_with(args: &[&str], needles: &[&str]) {
    let out = tessera(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{args:?} should fail; stderr: {stderr}"
    );
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "{args:?}: expected one error line, got: {stderr}"
    );
    for n in needles {
        assert!(
            errors[0].contains(n),
            "{args:?}: `{}` does not mention `{n}`",
            errors[0]
        );
    }
}

/// `name` inside a scratch folder of this test process (`suite` keeps test files apart).
pub fn scratch(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir.join(name)
}

/// Runs `tessera ARGS` and asserts that it succeeded (stderr in the message otherwise).
pub fn succeeds(args: &[&str]) -> Output {
    let out = tessera(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON document in `path` (a report or graph the binary wrote).
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("the JSON file was written");
    serde_json::from_str(&text).expect("valid JSON")
}
