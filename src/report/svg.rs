//! SVG pictures of a [`Picture`] (drawn with the `svg` crate): the arena layout (each block a
//! rectangle, arena offset against execution step, coloured by kind, the weight region as a band
//! below it) above the memory curve M(t) with the lower bound, the planned arena, naive-static
//! and whatever a run measured. Axes carry byte units, each panel has a legend, and every block
//! and every step names itself on hover (`<title>`).

use super::picture::{Block, BlockKind, LevelKind, Picture};
use svg::Document;
use svg::node::element::{Group, Line, Path, Rectangle, Text, Title, path::Data};

/// Width of the whole picture, px.
const WIDTH: f64 = 1220.0;
/// Left edge of both plot areas (room for the byte tick labels).
const LEFT: f64 = 84.0;
/// Width of both plot areas.
const PLOT_W: f64 = 740.0;
/// Left edge of the legends.
const LEGEND_X: f64 = LEFT + PLOT_W + 24.0;
/// Top and height of the layout plot area.
const LAYOUT_TOP: f64 = 56.0;
const LAYOUT_H: f64 = 360.0;
/// Height of the weight band under the layout.
const BAND_H: f64 = 24.0;
/// Top and height of the memory-curve plot area.
const CURVE_TOP: f64 = 560.0;
const CURVE_H: f64 = 300.0;
/// Height of the whole picture.
const HEIGHT: f64 = CURVE_TOP + CURVE_H + 64.0;
/// Font for every label.
const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
/// Colour of M(t).
const M_COLOUR: &str = "#0072b2";
/// Colour of the weight band.
const WEIGHTS_COLOUR: &str = "#bdbdbd";
/// Colours of the measured series and levels, in order (Okabe-Ito and friends).
const PALETTE: [&str; 8] = [
    "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#8c564b", "#7f7f7f", "#f0c400", "#17becf",
];

/// Fill colour of a block kind (colour-blind safe palette).
pub fn kind_colour(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::Input => "#9e9e9e",
        BlockKind::Activation => "#0072b2",
        BlockKind::InPlaceAlias => "#56b4e9",
        BlockKind::Output => "#009e73",
        BlockKind::Workspace => "#e69f00",
        BlockKind::Recompute => "#cc79a7",
    }
}

/// A byte count for an axis or legend: the largest binary unit it reaches, at most two
/// decimals, trailing zeros dropped (`40 KiB`, `1.5 MiB`, `512 B`).
pub fn axis_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} {}", UNITS[u])
}

/// A text label.
fn text(x: f64, y: f64, size: f64, anchor: &str, content: impl Into<String>) -> Text {
    Text::new(content)
        .set("x", x)
        .set("y", y)
        .set("font-size", size)
        .set("text-anchor", anchor)
}

/// A straight line.
fn line(x1: f64, y1: f64, x2: f64, y2: f64, colour: &str, width: f64) -> Line {
    Line::new()
        .set("x1", x1)
        .set("y1", y1)
        .set("x2", x2)
        .set("y2", y2)
        .set("stroke", colour)
        .set("stroke-width", width)
}

/// About `target` evenly spaced tick values from 0 to `max`: a step of 1, 2 or 5 times a
/// power of ten in `unit` bytes (or steps when `unit` is 1).
fn linear_ticks(max: u64, unit: u64, target: u64) -> Vec<u64> {
    let span = (max as f64 / unit as f64).max(1e-9);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let step_bytes = ((step * unit as f64).round() as u64).max(1);
    (0..=max / step_bytes).map(|k| k * step_bytes).collect()
}

/// The binary unit a byte axis up to `max` is labelled in.
fn unit_for(max: u64) -> u64 {
    match max {
        0..1024 => 1,
        1024..1_048_576 => 1024,
        1_048_576..1_073_741_824 => 1_048_576,
        _ => 1_073_741_824,
    }
}

/// x of the left edge of `step`.
fn step_x(step: f64, steps: u64) -> f64 {
    LEFT + step * PLOT_W / steps.max(1) as f64
}

/// The x axis (steps) under a plot whose bottom edge is `y`, with its title.
fn step_axis(steps: u64, y: f64) -> Group {
    let mut g = Group::new().add(line(LEFT, y, LEFT + PLOT_W, y, "#333", 1.0));
    for s in linear_ticks(steps, 1, 12) {
        let x = step_x(s as f64, steps);
        g = g.add(line(x, y, x, y + 5.0, "#333", 1.0)).add(text(
            x,
            y + 18.0,
            12.0,
            "middle",
            s.to_string(),
        ));
    }
    g.add(text(
        LEFT + PLOT_W / 2.0,
        y + 36.0,
        13.0,
        "middle",
        "execution step (node index in schedule order)",
    ))
}

/// A y axis at the left of a plot from `top` to `top + h`, ticks at `(value, y)`.
fn byte_axis(ticks: &[(u64, f64)], top: f64, h: f64, title: &str) -> Group {
    let mut g = Group::new().add(line(LEFT, top, LEFT, top + h, "#333", 1.0));
    for &(v, y) in ticks {
        g = g
            .add(line(LEFT - 5.0, y, LEFT, y, "#333", 1.0))
            .add(line(LEFT, y, LEFT + PLOT_W, y, "#e4e4e4", 1.0))
            .add(text(LEFT - 8.0, y + 4.0, 12.0, "end", axis_bytes(v)));
    }
    let (cx, cy) = (18.0, top + h / 2.0);
    g.add(text(cx, cy, 13.0, "middle", title).set("transform", format!("rotate(-90 {cx} {cy})")))
}

/// One legend entry: a swatch (filled box, or a line with `dash`) and its label, row `row`.
fn legend_entry(top: f64, row: usize, colour: &str, dash: Option<&str>, label: &str) -> Group {
    let y = top + row as f64 * 20.0;
    let swatch = match dash {
        None => Group::new().add(
            Rectangle::new()
                .set("x", LEGEND_X)
                .set("y", y - 10.0)
                .set("width", 18)
                .set("height", 12)
                .set("fill", colour),
        ),
        Some(d) => Group::new().add(
            line(LEGEND_X, y - 4.0, LEGEND_X + 18.0, y - 4.0, colour, 2.5)
                .set("stroke-dasharray", d),
        ),
    };
    swatch.add(text(LEGEND_X + 26.0, y, 12.5, "start", label))
}

/// The text shown when hovering a block.
fn block_title(b: &Block) -> String {
    format!(
        "{} ({}, {})\n{} at arena offset {}..{}\nlive at steps {}..{}",
        b.name,
        b.op,
        b.kind.name(),
        axis_bytes(b.bytes),
        b.offset,
        b.offset + b.bytes,
        b.start,
        b.end - 1
    )
}

/// The layout panel: one rectangle per block, the weight band, axes and legend.
fn layout_panel(p: &Picture) -> Group {
    let arena = p.arena_bytes.max(1);
    let y_of = |o: u64| LAYOUT_TOP + LAYOUT_H - o as f64 * LAYOUT_H / arena as f64;
    let mut g = Group::new().add(text(
        LEFT,
        LAYOUT_TOP - 22.0,
        16.0,
        "start",
        format!(
            "{}: arena layout, {} planned ({} blocks); hover a block for its tensor",
            p.model,
            axis_bytes(p.arena_bytes),
            p.blocks.len()
        ),
    ));
    let ticks: Vec<(u64, f64)> = linear_ticks(arena, unit_for(arena), 8)
        .into_iter()
        .map(|v| (v, y_of(v)))
        .collect();
    g = g.add(byte_axis(&ticks, LAYOUT_TOP, LAYOUT_H, "arena offset"));
    let mut rects = Group::new().set("class", "blocks");
    for (i, b) in p.blocks.iter().enumerate() {
        rects = rects.add(block_rect(
            p,
            i,
            b,
            y_of(b.offset + b.bytes),
            y_of(b.offset),
        ));
    }
    g = g
        .add(rects)
        .add(weights_band(p))
        .add(peak_column(p, LAYOUT_TOP, LAYOUT_H));
    g = g.add(line(
        LEFT,
        y_of(arena),
        LEFT + PLOT_W,
        y_of(arena),
        "#d55e00",
        1.5,
    ));
    g = g.add(step_axis(p.steps, LAYOUT_TOP + LAYOUT_H + BAND_H + 10.0));
    let mut row = 0;
    for kind in BlockKind::ALL {
        if p.blocks.iter().any(|b| b.kind == kind) {
            g = g.add(legend_entry(
                LAYOUT_TOP + 10.0,
                row,
                kind_colour(kind),
                None,
                kind.name(),
            ));
            row += 1;
        }
    }
    g.add(legend_entry(
        LAYOUT_TOP + 10.0,
        row,
        WEIGHTS_COLOUR,
        None,
        &format!("weights {} (persistent)", axis_bytes(p.weights_bytes)),
    ))
    .add(legend_entry(
        LAYOUT_TOP + 10.0,
        row + 1,
        "#d55e00",
        Some("none"),
        "arena top",
    ))
}

/// One block's rectangle (id `b{i}`, hover title, its name written in when it fits).
fn block_rect(p: &Picture, i: usize, b: &Block, y_top: f64, y_bottom: f64) -> Group {
    let x0 = step_x(b.start as f64, p.steps);
    let x1 = step_x(b.end as f64, p.steps);
    // Tiny blocks (a few bytes in a large arena) stay visible and hoverable: at least 2 px.
    let h = (y_bottom - y_top).max(2.0);
    let (w, y_top) = (x1 - x0, y_bottom - h);
    let rect = Rectangle::new()
        .set("id", format!("b{i}"))
        .set("x", x0)
        .set("y", y_top)
        .set("width", w)
        .set("height", h)
        .set("fill", kind_colour(b.kind))
        .set("stroke", "#ffffff")
        .set("stroke-width", 0.75)
        .add(Title::new(block_title(b)));
    let mut g = Group::new().add(rect);
    let chars = b.name.chars().count() as f64;
    if h >= 14.0 && chars * 6.2 + 6.0 <= w {
        g = g.add(
            text(
                x0 + 3.0,
                y_top + h / 2.0 + 4.0,
                10.5,
                "start",
                b.name.clone(),
            )
            .set("fill", "#ffffff")
            .set("pointer-events", "none"),
        );
    }
    g
}

/// The weight region: a band under offset 0 across every step (not to scale).
fn weights_band(p: &Picture) -> Group {
    let y = LAYOUT_TOP + LAYOUT_H + 4.0;
    Group::new()
        .add(
            Rectangle::new()
                .set("x", LEFT)
                .set("y", y)
                .set("width", PLOT_W)
                .set("height", BAND_H - 6.0)
                .set("fill", WEIGHTS_COLOUR)
                .add(Title::new(format!(
                    "weights: {} persistent region before the arena (band not to scale)",
                    axis_bytes(p.weights_bytes)
                ))),
        )
        .add(text(
            LEFT + PLOT_W / 2.0,
            y + 13.0,
            11.5,
            "middle",
            format!(
                "weights region {} (persistent, every step; not to scale)",
                axis_bytes(p.weights_bytes)
            ),
        ))
}

/// A translucent column over the step where M(t) peaks, labelled.
fn peak_column(p: &Picture, top: f64, h: f64) -> Group {
    let Some(k) = p.peak_step() else {
        return Group::new();
    };
    let x0 = step_x(k as f64, p.steps);
    let x1 = step_x(k as f64 + 1.0, p.steps);
    Group::new()
        .add(
            Rectangle::new()
                .set("x", x0)
                .set("y", top)
                .set("width", x1 - x0)
                .set("height", h)
                .set("fill", "#d55e00")
                .set("fill-opacity", 0.15)
                .set("stroke", "#d55e00")
                .set("stroke-dasharray", "3 3")
                .set("pointer-events", "none"),
        )
        .add(
            text(
                x1 + 3.0,
                top + 12.0,
                11.5,
                "start",
                format!("peak of M(t): step {k}"),
            )
            .set("stroke", "#ffffff")
            .set("stroke-width", 3)
            .set("paint-order", "stroke")
            .set("pointer-events", "none"),
        )
}

/// Maps bytes to y on the memory-curve chart: linear from 0, or log2 when the values span
/// more than a factor of 4 above the lower bound.
struct CurveScale {
    log: bool,
    lo: f64,
    hi: f64,
}

impl CurveScale {
    fn new(p: &Picture) -> CurveScale {
        let values = p
            .curve
            .iter()
            .chain(p.levels.iter().map(|l| &l.bytes))
            .chain(p.measured.iter().flat_map(|s| s.bytes.iter()))
            .copied();
        let max = values.clone().max().unwrap_or(1).max(1);
        let peak = p.curve.iter().copied().max().unwrap_or(1).max(1);
        if max <= 4 * peak {
            let unit = unit_for(max);
            let top = linear_ticks(max, unit, 6)
                .last()
                .copied()
                .unwrap_or(max)
                .max(max);
            return CurveScale {
                log: false,
                lo: 0.0,
                hi: top as f64 * 1.05,
            };
        }
        let min = values.filter(|&v| v > 0).min().unwrap_or(1).max(1);
        CurveScale {
            log: true,
            lo: (min as f64).log2().floor() - 0.3,
            hi: (max as f64).log2().ceil() + 0.3,
        }
    }

    fn y(&self, bytes: u64) -> f64 {
        let v = if self.log {
            (bytes.max(1) as f64).log2().max(self.lo)
        } else {
            bytes as f64
        };
        CURVE_TOP + CURVE_H - (v - self.lo) / (self.hi - self.lo) * CURVE_H
    }

    fn ticks(&self) -> Vec<(u64, f64)> {
        let values: Vec<u64> = if self.log {
            let (lo, hi) = (self.lo.ceil().max(0.0) as u32, self.hi.floor() as u32);
            let every = ((hi - lo) / 8 + 1) as usize;
            (lo..=hi.min(62))
                .step_by(every)
                .map(|e| 1u64 << e)
                .collect()
        } else {
            let max = self.hi as u64;
            linear_ticks(max, unit_for(max), 6)
        };
        values.into_iter().map(|v| (v, self.y(v))).collect()
    }
}

/// A step-function path through one value per step.
fn step_path(values: &[u64], steps: u64, scale: &CurveScale) -> Data {
    let mut d = Data::new();
    for (i, &v) in values.iter().enumerate() {
        let (x0, x1, y) = (
            step_x(i as f64, steps),
            step_x(i as f64 + 1.0, steps),
            scale.y(v),
        );
        d = if i == 0 {
            d.move_to((x0, y))
        } else {
            d.line_to((x0, y))
        };
        d = d.line_to((x1, y));
    }
    d
}

/// Colour, dash pattern and width of a level line (`measured_index`: how many measured levels
/// came before; the first, the planned run's, is dotted purple over the arena line).
fn level_style(kind: LevelKind, measured_index: usize) -> (&'static str, &'static str, f64) {
    match kind {
        LevelKind::LowerBound => ("#000000", "7 4", 1.5),
        LevelKind::Arena => ("#d55e00", "none", 2.5),
        LevelKind::NaiveStatic => ("#555555", "2 3", 2.0),
        LevelKind::Measured if measured_index == 0 => ("#7b3294", "1.5 3", 3.0),
        LevelKind::Measured => (PALETTE[measured_index % PALETTE.len()], "9 3 2 3", 2.0),
    }
}

/// The memory-curve panel: M(t) filled, the levels, the measured series, axes and legend.
fn curve_panel(p: &Picture) -> Group {
    let scale = CurveScale::new(p);
    let (title, axis) = if scale.log {
        (" (log scale)", "bytes (log scale)")
    } else {
        ("", "bytes")
    };
    let heading = format!("{}: memory over the schedule{title}", p.model);
    let (lines, legend) = curve_lines(p, &scale);
    let mut g = Group::new()
        .add(text(LEFT, CURVE_TOP - 22.0, 16.0, "start", heading))
        .add(byte_axis(&scale.ticks(), CURVE_TOP, CURVE_H, axis))
        .add(peak_column(p, CURVE_TOP, CURVE_H))
        .add(curve_area(p, &scale))
        .add(lines)
        .add(step_hover(p))
        .add(step_axis(p.steps, CURVE_TOP + CURVE_H));
    for (row, (colour, dash, label)) in legend.iter().enumerate() {
        g = g.add(legend_entry(
            CURVE_TOP + 10.0,
            row,
            colour,
            Some(dash),
            label,
        ));
    }
    g
}

/// M(t) as a filled step area with its outline.
fn curve_area(p: &Picture, scale: &CurveScale) -> Group {
    let base = scale
        .y(if scale.log { 1 } else { 0 })
        .min(CURVE_TOP + CURVE_H);
    let area = step_path(&p.curve, p.steps, scale)
        .line_to((step_x(p.steps as f64, p.steps), base))
        .line_to((LEFT, base))
        .close();
    Group::new()
        .add(Path::new().set("d", area).set("fill", "#cfe3f3"))
        .add(
            Path::new()
                .set("d", step_path(&p.curve, p.steps, scale))
                .set("fill", "none")
                .set("stroke", M_COLOUR)
                .set("stroke-width", 2),
        )
}

/// One legend row of the memory chart: colour, dash pattern (`none` for solid), text.
type LegendRow = (&'static str, &'static str, String);

/// The measured series and the levels as lines, and the chart's legend rows (M(t) first).
fn curve_lines(p: &Picture, scale: &CurveScale) -> (Group, Vec<LegendRow>) {
    let peak = p.curve.iter().copied().max().unwrap_or(0);
    let mut legend = vec![(
        M_COLOUR,
        "none",
        format!("M(t): planned live bytes (peak {})", axis_bytes(peak)),
    )];
    let mut g = Group::new();
    for (i, s) in p.measured.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        g = g.add(
            Path::new()
                .set("d", step_path(&s.bytes, p.steps, scale))
                .set("fill", "none")
                .set("stroke", colour)
                .set("stroke-width", 1.6),
        );
        let peak = s.bytes.iter().copied().max().unwrap_or(0);
        legend.push((
            colour,
            "none",
            format!("{}, peak {}", s.label, axis_bytes(peak)),
        ));
    }
    let mut measured_levels = 0;
    for l in &p.levels {
        let (colour, dash, width) = level_style(l.kind, measured_levels);
        if l.kind == LevelKind::Measured {
            measured_levels += 1;
        }
        let y = scale.y(l.bytes);
        g = g.add(
            line(LEFT, y, LEFT + PLOT_W, y, colour, width)
                .set("stroke-dasharray", dash)
                .add(Title::new(format!("{}: {} bytes", l.label, l.bytes))),
        );
        legend.push((colour, dash, format!("{} {}", l.label, axis_bytes(l.bytes))));
    }
    (g, legend)
}

/// Invisible columns, one per step, naming the node and M(t) on hover.
fn step_hover(p: &Picture) -> Group {
    let mut g = Group::new().set("class", "steps");
    let top = CURVE_TOP;
    for (i, &live) in p.curve.iter().enumerate() {
        let x0 = step_x(i as f64, p.steps);
        let name = p.step_names.get(i).map_or("", String::as_str);
        g = g.add(
            Rectangle::new()
                .set("x", x0)
                .set("y", top)
                .set("width", step_x(i as f64 + 1.0, p.steps) - x0)
                .set("height", CURVE_TOP + CURVE_H - top)
                .set("fill", "#000000")
                .set("fill-opacity", 0)
                .add(Title::new(format!(
                    "step {i}: {name}\nM(t) = {} ({live} bytes)",
                    axis_bytes(live)
                ))),
        );
    }
    g
}

/// The whole picture (layout above, memory curve below) as an SVG document.
pub fn document(p: &Picture) -> Document {
    Document::new()
        .set("viewBox", (0, 0, WIDTH, HEIGHT))
        .set("width", WIDTH)
        .set("height", HEIGHT)
        .set("font-family", FONT)
        .set("role", "img")
        .add(
            Rectangle::new()
                .set("width", WIDTH)
                .set("height", HEIGHT)
                .set("fill", "#ffffff"),
        )
        .add(layout_panel(p))
        .add(curve_panel(p))
}

/// The picture as SVG text (an `<svg>` element, usable as a file or inline in HTML).
pub fn render(p: &Picture) -> String {
    document(p).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::picture::{Level, Series};

    fn picture() -> Picture {
        let block = |name: &str, kind, start, end, offset, bytes| Block {
            name: name.into(),
            op: "relu".into(),
            kind,
            start,
            end,
            offset,
            bytes,
        };
        Picture {
            model: "toy <&>".into(),
            steps: 3,
            step_names: vec!["a (relu)".into(), "b (add)".into(), "c (relu)".into()],
            arena_bytes: 2048,
            weights_bytes: 4096,
            blocks: vec![
                block("x", BlockKind::Input, 0, 2, 0, 1024),
                block("y", BlockKind::Activation, 1, 3, 1024, 1024),
                block("ws", BlockKind::Workspace, 2, 3, 0, 512),
            ],
            curve: vec![1024, 2048, 1536],
            levels: vec![Level {
                label: "planned arena".into(),
                bytes: 2048,
                kind: LevelKind::Arena,
            }],
            measured: vec![Series {
                label: "caching (measured per node)".into(),
                bytes: vec![2 << 20, 2 << 20, 2 << 20],
            }],
        }
    }

    #[test]
    fn every_block_has_a_rect_with_a_title() {
        let s = render(&picture());
        for (i, name) in ["x", "y", "ws"].iter().enumerate() {
            let at = s.find(&format!("id=\"b{i}\"")).expect("rect");
            let title = &s[at..s[at..].find("</rect>").unwrap() + at];
            assert!(title.contains(&format!("<title>{name} (")), "{title}");
        }
        assert!(s.contains("toy &lt;&amp;&gt;"), "names are escaped");
        assert!(s.contains("log scale"), "a 1000x spread switches to log");
        assert!(s.contains("weights 4 KiB"));
    }

    #[test]
    fn axis_bytes_trims() {
        assert_eq!(axis_bytes(40 * 1024), "40 KiB");
        assert_eq!(axis_bytes(3 << 19), "1.5 MiB");
        assert_eq!(axis_bytes(512), "512 B");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(linear_ticks(10, 1, 5), vec![0, 2, 4, 6, 8, 10]);
        assert_eq!(
            linear_ticks(48 * 1024, 1024, 8),
            (0..=4).map(|k| k * 10 * 1024).collect::<Vec<_>>()
        );
    }
}
