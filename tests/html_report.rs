//! The pictures and the HTML report in a real browser. Headless Chromium (Debian's `chromium`;
//! `scripts/test` installs it) loads the page `tessera run --html` writes with console logging
//! on: the page must log nothing (a script error, a failed load or any `console` call is a
//! console line), its script must run to the end (it sets `data-ready` on `<body>`), and the
//! picture must be in the DOM. A page with an injected script error must fail the same check.
//! Without a browser these tests fail (never skip), naming what to install.

mod cli_support;

use cli_support::{fails_with, scratch, succeeds};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser: `$TESSERA_CHROMIUM`, else the first of the usual names on `PATH`.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("TESSERA_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "no headless browser: install Debian's `chromium` (scripts/test does) or set TESSERA_CHROMIUM"
    );
}

/// Runs headless Chromium on `url` with `extra` flags and a fresh profile; returns (stdout,
/// stderr). Killed after two minutes.
fn browse(url: &str, extra: &[&str], profile: &Path) -> (String, String) {
    let _ = std::fs::remove_dir_all(profile);
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().expect("poll chromium").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish loading {url} within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("chromium output");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Everything wrong with a page as the browser saw it: every console line, a script that did
/// not finish, a missing picture. Empty when the page is fine.
fn problems(page: &Path) -> Vec<String> {
    let url = format!("file://{}", page.display());
    let profile = page.with_extension("profile");
    let (dom, log) = browse(&url, &["--dump-dom"], &profile);
    let mut found: Vec<String> = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    if !dom.contains("data-ready=\"1\"") {
        found.push("the page script did not finish (no data-ready on <body>)".into());
    }
    if !dom.contains("<svg") || !dom.contains("class=\"blocks\"") {
        found.push("no SVG picture with blocks in the DOM".into());
    }
    found
}

#[test]
fn run_writes_an_svg_and_a_page_that_loads_without_console_errors() {
    let (svg, html) = (scratch("html", "g.svg"), scratch("html", "g.html"));
    succeeds(&[
        "run",
        "--model",
        "gpt",
        "--svg",
        svg.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let picture = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(picture.starts_with("<svg"), "{}", &picture[..80]);
    for needle in [
        "<title>",
        "arena offset",
        "KiB",
        "lower bound",
        "caching, measured",
    ] {
        assert!(picture.contains(needle), "the SVG lacks `{needle}`");
    }
    let found = problems(&html);
    assert!(found.is_empty(), "{found:#?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "the page must not load anything from the network"
    );
    // The picture renders: Chromium writes a PNG of the SVG alone.
    let png = scratch("html", "g.png");
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    browse(
        &format!("file://{}", svg.display()),
        &[&shot, "--window-size=1220,924"],
        &scratch("html", "shot.profile"),
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
}

#[test]
fn an_injected_script_error_fails_the_check() {
    let html = scratch("html", "mlp.html");
    succeeds(&["plan", "--model", "mlp", "--html", html.to_str().unwrap()]);
    assert!(problems(&html).is_empty(), "{:#?}", problems(&html));
    let page = std::fs::read_to_string(&html).unwrap();
    let broken = scratch("html", "broken.html");
    let injected = page.replacen(
        "</body>",
        "<script>undefinedFunctionInTheReport();</script></body>",
        1,
    );
    std::fs::write(&broken, injected).unwrap();
    let found = problems(&broken);
    assert!(
        found
            .iter()
            .any(|l| l.contains("undefinedFunctionInTheReport")),
        "{found:#?}"
    );
    // A page whose own script breaks before its end is caught too.
    let stopped = scratch("html", "stopped.html");
    std::fs::write(
        &stopped,
        page.replacen("document.body.dataset.ready", "null.ready", 1),
    )
    .unwrap();
    let found = problems(&stopped);
    assert!(
        found.iter().any(|l| l.contains("did not finish")),
        "{found:#?}"
    );
}

#[test]
fn an_unwritable_picture_path_is_one_line() {
    let missing = scratch("html", "no-such-folder/p.svg");
    fails_with(
        &["plan", "--model", "mlp", "--svg", missing.to_str().unwrap()],
        &["cannot write", "no-such-folder/p.svg"],
    );
}
