//! One self-contained HTML page per report (no network: CSS, script and the SVG picture inline),
//! written with `maud` (escaped by construction): the summary table, the picture, the per-op
//! choices (attention kernel, conv methods, schedule), the side-by-side comparison and a
//! sortable table of every arena block with the ones live at the peak of M(t) highlighted.

use super::picture::{Block, Picture};
use super::svg::{axis_bytes, kind_colour, render};
use super::{PlanSection, RunReport, Variant, human_bytes};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The page's style sheet.
const CSS: &str = r#"
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.t, th.t { text-align: left; }
th { background: #f3f3f3; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-dir="asc"]::after { content: " \25B2"; }
table.sortable th[data-dir="desc"]::after { content: " \25BC"; }
tr.peak td { background: #fde8dc; }
tr.top td:first-child { font-weight: bold; }
tr:hover td { background: #e8f1fa; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.note { color: #555; font-size: 13px; max-width: 900px; }
svg .hl { stroke: #000 !important; stroke-width: 2.5 !important; }
"#;

/// Sorting by a click on a column title (numbers by their `data-v`), and highlighting a
/// block's rectangle while its row is hovered. Sets `data-ready` on `<body>` when done, which
/// the headless-browser test reads.
const SCRIPT: &str = r#"
(() => {
  const key = (td) => td.dataset.v !== undefined ? Number(td.dataset.v) : td.textContent;
  for (const table of document.querySelectorAll("table.sortable")) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach((th, col) => th.addEventListener("click", () => {
      const asc = th.dataset.dir !== "asc";
      heads.forEach((h) => delete h.dataset.dir);
      th.dataset.dir = asc ? "asc" : "desc";
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      rows.sort((a, b) => {
        const x = key(a.cells[col]), y = key(b.cells[col]);
        const r = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return asc ? r : -r;
      });
      rows.forEach((r) => body.appendChild(r));
    }));
  }
  for (const tr of document.querySelectorAll("tr[data-block]")) {
    const rect = document.getElementById("b" + tr.dataset.block);
    if (!rect) continue;
    tr.addEventListener("mouseenter", () => rect.classList.add("hl"));
    tr.addEventListener("mouseleave", () => rect.classList.remove("hl"));
  }
  document.body.dataset.ready = "1";
})();
"#;

/// `bytes (human)`.
fn bytes_cell(b: u64) -> String {
    format!("{} ({b} B)", human_bytes(b))
}

/// The summary rows of the plan.
fn plan_rows(plan: &PlanSection) -> Vec<(&'static str, String)> {
    vec![
        ("arena (planned)", bytes_cell(plan.arena_bytes)),
        (
            "lower bound",
            format!(
                "{} (ratio {:.4})",
                bytes_cell(plan.lower_bound_bytes),
                plan.ratio
            ),
        ),
        ("naive static", bytes_cell(plan.naive_static_bytes)),
        ("weights", bytes_cell(plan.weights_bytes)),
        (
            "workspace",
            format!(
                "{} (policy {})",
                human_bytes(plan.workspace_bytes),
                plan.workspace_policy
            ),
        ),
        (
            "in-place",
            format!(
                "{} ({} nodes)",
                if plan.in_place { "on" } else { "off" },
                plan.in_place_nodes
            ),
        ),
        ("buffers", plan.buffers.to_string()),
        ("alignment", format!("{} B", plan.alignment)),
        (
            "proven optimal",
            if plan.proven_optimal { "yes" } else { "no" }.into(),
        ),
    ]
}

/// A signed allocator figure, or "not available".
fn signed(b: Option<i64>) -> String {
    b.map_or("not available".into(), |b| {
        let sign = if b < 0 { "-" } else { "+" };
        format!("{sign}{} ({b:+} B)", human_bytes(b.unsigned_abs()))
    })
}

/// The summary rows of a run (adapter, measurements, checks, timings).
fn run_rows(r: &RunReport) -> Vec<(&'static str, String)> {
    let ms = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.1} ms"));
    vec![
        (
            "adapter",
            format!(
                "{} ({}, {})",
                r.adapter.name, r.adapter.backend, r.adapter.device_type
            ),
        ),
        (
            "one buffer, allocator growth",
            signed(r.measured.arena_device_bytes),
        ),
        (
            "device peak (allocated)",
            signed(r.measured.device_peak_bytes),
        ),
        ("guard check", r.validate.guard_check.clone()),
        ("clobber check", r.validate.clobber_check.clone()),
        (
            "max abs err vs CPU",
            r.correctness
                .max_abs_err
                .map_or("n/a (no GPU run)".into(), |e| {
                    format!(
                        "{e:.3e} ({})",
                        if r.correctness.passed {
                            "passed"
                        } else {
                            "FAILED"
                        }
                    )
                }),
        ),
        (
            "time",
            format!(
                "plan {:.1} ms, compile {}, run {}, cpu reference {:.1} ms",
                r.timings.plan_ms,
                ms(r.timings.compile_ms),
                ms(r.timings.run_ms),
                r.timings.cpu_ms
            ),
        ),
    ]
}

/// The per-op choices: attention kernel, schedule and each conv op's method.
fn choices(plan: &PlanSection) -> Markup {
    let s = &plan.schedule;
    html! {
        h2 { "Per-op choices" }
        table {
            tr { th { "attention kernel" } td.t { (plan.attention) } }
            tr { th { "micro-batch slices" } td.t { (plan.micro_batch) } }
            tr { th { "inputs" } td.t {
                @if plan.streamed_inputs {
                    "streamed from " (human_bytes(plan.staging_bytes)) " of host-upload staging beside the arena"
                } @else { "uploaded before the run" }
            } }
            tr { th { "schedule" } td.t {
                (s.name) @if s.chosen != s.name { " \u{2192} " (s.chosen) }
                ", peak live " (human_bytes(s.peak_live_bytes))
                " (program order " (human_bytes(s.program_peak_live_bytes)) ")"
                @if let Some(n) = &s.note { "; " (n) }
            } }
            @for c in &s.candidates {
                tr { th { "candidate " (c.name) } td.t {
                    "peak live " (human_bytes(c.peak_live_bytes)) ", arena " (human_bytes(c.arena_bytes))
                } }
            }
        }
        @if !plan.conv.is_empty() {
            table.sortable {
                thead { tr { th { "conv node" } th.t { "method" } th { "workspace" } } }
                tbody { @for c in &plan.conv {
                    tr { td { (c.node) } td.t { (c.method) }
                         td data-v=(c.workspace_bytes) { (human_bytes(c.workspace_bytes)) } }
                } }
            }
        }
    }
}

/// Lower bound, the arena under each reuse setting, and (after a run) the measured schemes.
fn comparison(plan: &PlanSection, variants: &[Variant], run: Option<&RunReport>) -> Markup {
    let lb = plan.lower_bound_bytes.max(1) as f64;
    let row = |name: String, bytes: u64, measured: String, ms: String| {
        html! { tr { td { (name) } td data-v=(bytes) { (human_bytes(bytes)) }
        td data-v=(bytes as f64 / lb) { (format!("{:.3}x", bytes as f64 / lb)) }
        td.t { (measured) } td { (ms) } } }
    };
    html! {
        h2 { "Side by side" }
        table.sortable {
            thead { tr { th { "scheme" } th { "bytes" } th { "vs lower bound" }
                         th.t { "measured on the device" } th { "run time" } } }
            tbody {
                (row("lower bound".into(), plan.lower_bound_bytes, String::new(), String::new()))
                @for v in variants {
                    (row(format!("plan: in-place {}, workspace {}",
                                 if v.in_place { "on" } else { "off" }, v.workspace),
                         v.arena_bytes, String::new(), String::new()))
                }
                @if let Some(r) = run {
                    (row("planned run (one buffer's allocator growth minus weights and guard bands)".into(),
                         plan.arena_bytes, r.arena_share().map_or("n/a".into(), |b| format!("{b:+} B")),
                         r.timings.run_ms.map_or("n/a".into(), |t| format!("{t:.1} ms"))))
                    @for b in &r.baselines {
                        (row(format!("{}{}", b.name,
                                     if b.outputs_equal_planned { "" } else { " (OUTPUTS DIFFER)" }),
                             b.reserved_peak_bytes,
                             b.measured_peak_bytes.map_or("n/a".into(), human_bytes),
                             format!("{:.1} ms", b.run_ms)))
                    }
                }
            }
        }
    }
}

/// One row of the tensor table.
fn block_row(i: usize, b: &Block, peak: Option<u64>, top: Option<usize>) -> Markup {
    let at_peak = peak.is_some_and(|k| b.live_at(k));
    let class = match (at_peak, top == Some(i)) {
        (true, true) => "peak top",
        (true, false) => "peak",
        (false, true) => "top",
        (false, false) => "",
    };
    let mark = match (at_peak, top == Some(i)) {
        (true, true) => "live at peak; sets arena top \u{2605}",
        (true, false) => "live at peak",
        (false, true) => "sets arena top \u{2605}",
        (false, false) => "",
    };
    html! {
        tr class=(class) data-block=(i) {
            td { (b.name) }
            td.t { (b.op) }
            td.t { span.swatch style={ "background:" (kind_colour(b.kind)) } {} (b.kind.name()) }
            td data-v=(b.bytes) { (human_bytes(b.bytes)) }
            td data-v=(b.offset) { (b.offset) }
            td data-v=(b.offset + b.bytes) { (b.offset + b.bytes) }
            td data-v=(b.start) { (b.start) }
            td data-v=(b.end - 1) { (b.end - 1) }
            td data-v=(u8::from(at_peak) * 2 + u8::from(top == Some(i))) { (mark) }
        }
    }
}

/// The sortable table of every block, biggest first, with the peak explained above it.
fn tensor_table(p: &Picture) -> Markup {
    let peak = p.peak_step();
    let top = p.top_block();
    let mut order: Vec<usize> = (0..p.blocks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(p.blocks[i].bytes));
    let live: Vec<&Block> = peak.map_or(Vec::new(), |k| {
        p.blocks.iter().filter(|b| b.live_at(k)).collect()
    });
    html! {
        h2 { "Tensors in the arena" }
        p.note {
            @if let Some(k) = peak {
                "M(t) peaks at step " (k) " ("
                (p.step_names.get(k as usize).map_or("", String::as_str)) "): "
                (live.len()) " blocks holding "
                (axis_bytes(live.iter().map(|b| b.bytes).sum())) " are live there (the lower bound); "
                "their rows are highlighted. \u{2605} marks the block whose end offset is the arena size. "
            }
            "Click a column title to sort; hover a row to outline its block in the layout."
        }
        table.sortable #tensors {
            thead { tr { th { "name" } th.t { "op" } th.t { "kind" } th { "bytes" } th { "offset" }
                         th { "end offset" } th { "first step" } th { "last step" } th { "peak" } } }
            tbody { @for &i in &order { (block_row(i, &p.blocks[i], peak, top)) } }
        }
    }
}

/// A two-column table of `(label, value)` rows.
fn summary(rows: &[(&'static str, String)]) -> Markup {
    html! { table { @for (k, v) in rows { tr { th { (k) } td.t { (v) } } } } }
}

/// The whole page. `run` adds the measured rows, the baselines and the adapter.
pub fn page(
    p: &Picture,
    planner: &str,
    plan: &PlanSection,
    variants: &[Variant],
    run: Option<&RunReport>,
) -> String {
    let mut rows = vec![("model", p.model.clone()), ("planner", planner.to_string())];
    rows.extend(plan_rows(plan));
    if let Some(r) = run {
        rows.extend(run_rows(r));
    }
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "tessera: " (p.model) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "tessera report: " (p.model) }
                p.note { @if run.is_some() { "Planned, executed and measured" } @else { "Planned (not executed)" }
                         "; every figure in bytes unless it says otherwise." }
                (summary(&rows))
                h2 { "Arena layout and memory curve" }
                div #picture { (PreEscaped(render(p))) }
                (choices(plan))
                (comparison(plan, variants, run))
                (tensor_table(p))
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    doc.into_string()
}
