//! `--svg` and `--html` (and the demo's `--svg-dir`): writes a report's picture and page.

use super::CliError;
use std::path::Path;
use tessera::report::Picture;
use tessera::report::{PlanSection, RunReport, Variant, html, svg};

/// Where to write the picture and the page (either may be absent).
pub struct Targets<'a> {
    /// `--svg FILE`.
    pub svg: Option<&'a Path>,
    /// `--html FILE`.
    pub html: Option<&'a Path>,
}

/// Writes `text` to `path`, or an error naming the file.
fn write_text(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|source| CliError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Writes the SVG picture and the HTML page asked for (`run` adds the measured figures).
pub fn write(
    to: &Targets<'_>,
    pic: &Picture,
    planner: &str,
    plan: &PlanSection,
    variants: &[Variant],
    run: Option<&RunReport>,
) -> Result<(), CliError> {
    if let Some(path) = to.svg {
        write_text(path, &svg::render(pic))?;
    }
    if let Some(path) = to.html {
        write_text(path, &html::page(pic, planner, plan, variants, run))?;
    }
    Ok(())
}

/// The demo's files for `model` in `dir` (created when missing): `MODEL.svg` and `MODEL.html`.
pub fn write_into(dir: &Path, report: &RunReport, pic: &Picture) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let svg = dir.join(format!("{}.svg", report.model));
    let page = dir.join(format!("{}.html", report.model));
    let to = Targets {
        svg: Some(&svg),
        html: Some(&page),
    };
    write(
        &to,
        pic,
        &report.planner,
        &report.plan,
        &report.variants,
        Some(report),
    )
}
