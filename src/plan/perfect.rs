//! Generated *perfect packings*: planning problems whose optimum equals the max-load lower
//! bound by construction, to test and measure the exact planner on instances of known optimum.
//!
//! A `W x T` grid (memory cells x time steps) is cut into rectangles; each rectangle
//! `[x0, x1) x [t0, t1)` becomes a buffer of `(x1 - x0) * unit` bytes live over `[t0, t1)`. The
//! rectangles tile the grid, so `W * unit` bytes are live at every step (the bound) and the
//! dissection itself is a plan of that size (returned with the problem).
//!
//! * [`Kind::Guillotine`]: recursive straight cuts across the whole current rectangle (in time or
//!   in memory), so the packing can be taken apart by cuts again.
//! * [`Kind::NonGuillotine`]: recursive pinwheels (five rectangles around a centre, which no
//!   straight cut separates): the whole grid is one, and random rectangles are replaced by
//!   pinwheels of their own (or split in two near the end), so no straight cut across the grid
//!   decomposes it and the inside is not guillotine either.
//!
//! Buffers come out in a seeded random order (the generation order would hint at the plan).

use super::search::Lcg;
use super::{Buffer, Lifetime, Plan, PlanError, Problem};

/// Which kind of dissection to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Recursive straight cuts.
    Guillotine,
    /// Recursive pinwheels: no straight cut across the whole grid.
    NonGuillotine,
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Dissection kind.
    pub kind: Kind,
    /// Number of buffers (rectangles), at least 2 and at most `width * steps`.
    pub buffers: usize,
    /// Memory cells across (the optimum is `width * unit` bytes).
    pub width: u32,
    /// Time steps.
    pub steps: u32,
    /// Bytes per memory cell.
    pub unit: u64,
    /// Random seed.
    pub seed: u64,
}

impl Spec {
    /// A spec shaped like minimalloc's hard set: 64 cells of 16 KiB (a 1 MiB optimum) over 64
    /// steps.
    pub fn new(kind: Kind, buffers: usize, seed: u64) -> Self {
        Self {
            kind,
            buffers,
            width: 64,
            steps: 64,
            unit: 16 << 10,
            seed,
        }
    }
}

/// A generated problem with a plan whose arena is the optimum (`width * unit`).
#[derive(Clone, Debug)]
pub struct Packing {
    /// The buffers.
    pub problem: Problem,
    /// The dissection as a plan: its arena equals the max-load lower bound.
    pub plan: Plan,
}

/// A rectangle of grid cells: memory `[x0, x1)`, time `[t0, t1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// First memory cell.
    pub x0: u32,
    /// One past the last memory cell.
    pub x1: u32,
    /// First time step.
    pub t0: u32,
    /// One past the last time step.
    pub t1: u32,
}

impl Rect {
    fn area(&self) -> u64 {
        u64::from(self.x1 - self.x0) * u64::from(self.t1 - self.t0)
    }
}

/// Generates a perfect packing, or says why `spec` cannot have one.
pub fn generate(spec: &Spec) -> Result<Packing, PlanError> {
    let cells = u64::from(spec.width) * u64::from(spec.steps);
    if spec.buffers < 2 || spec.buffers as u64 > cells || spec.unit == 0 {
        return Err(PlanError::Packing(format!(
            "{} buffers on a {}x{} grid of {}-byte cells: need 2..={cells} buffers and a unit > 0",
            spec.buffers, spec.width, spec.steps, spec.unit
        )));
    }
    if u64::from(spec.width).checked_mul(spec.unit).is_none() {
        return Err(PlanError::Packing(format!(
            "{} cells of {} bytes overflow u64",
            spec.width, spec.unit
        )));
    }
    let rects = match spec.kind {
        Kind::Guillotine => guillotine(spec, &mut Lcg::new(spec.seed)),
        Kind::NonGuillotine => {
            let rects = non_guillotine(spec, &mut Lcg::new(spec.seed));
            if rects.len() != spec.buffers || has_full_cut(&rects, spec.width, spec.steps) {
                return Err(PlanError::Packing(format!(
                    "no non-guillotine layout of {} buffers on a {}x{} grid (a side under 3 \
                     cells, or too many buffers for the grid)",
                    spec.buffers, spec.width, spec.steps
                )));
            }
            rects
        }
    };
    Ok(to_packing(&rects, spec))
}

/// Recursive straight cuts: split a random rectangle (weighted to the large ones) across a
/// random axis until there are `spec.buffers`.
fn guillotine(spec: &Spec, rng: &mut Lcg) -> Vec<Rect> {
    let mut rects = vec![Rect {
        x0: 0,
        x1: spec.width,
        t0: 0,
        t1: spec.steps,
    }];
    while rects.len() < spec.buffers {
        // The larger of two random picks, so that sizes stay varied but not extreme.
        let a = rng.below(rects.len());
        let b = rng.below(rects.len());
        let i = if rects[a].area() >= rects[b].area() {
            a
        } else {
            b
        };
        if let Some((l, r)) = split(rects[i], rng) {
            rects[i] = l;
            rects.push(r);
        } else if let Some(j) = (0..rects.len()).find(|&j| rects[j].area() > 1) {
            // Rare: the pick was one cell; split any larger rectangle.
            if let Some((l, r)) = split(rects[j], rng) {
                rects[j] = l;
                rects.push(r);
            }
        }
    }
    rects
}

/// Splits `r` in two along a random axis that has room (`None` for a single cell).
fn split(r: Rect, rng: &mut Lcg) -> Option<(Rect, Rect)> {
    let (w, h) = (r.x1 - r.x0, r.t1 - r.t0);
    let in_memory = match (w > 1, h > 1) {
        (false, false) => return None,
        (true, false) => true,
        (false, true) => false,
        (true, true) => rng.below(2) == 0,
    };
    if in_memory {
        let x = r.x0 + 1 + rng.below((w - 1) as usize) as u32;
        Some((Rect { x1: x, ..r }, Rect { x0: x, ..r }))
    } else {
        let t = r.t0 + 1 + rng.below((h - 1) as usize) as u32;
        Some((Rect { t1: t, ..r }, Rect { t0: t, ..r }))
    }
}

/// Recursive pinwheels: the whole grid becomes a pinwheel (five rectangles around a centre,
/// which no straight cut separates), then random rectangles (weighted to the large ones) are
/// replaced by pinwheels of their own (4 more rectangles) or, when fewer than 4 are missing or
/// a rectangle is too thin, split in two. A step whose new lines would complete a straight cut
/// across the whole grid is undone.
fn non_guillotine(spec: &Spec, rng: &mut Lcg) -> Vec<Rect> {
    let whole = Rect {
        x0: 0,
        x1: spec.width,
        t0: 0,
        t1: spec.steps,
    };
    let mut rects = match pinwheel(whole, rng) {
        Some(p) => p.to_vec(),
        None => return vec![whole],
    };
    let mut stuck = 0;
    while rects.len() < spec.buffers && stuck < 10_000 {
        let a = rng.below(rects.len());
        let b = rng.below(rects.len());
        let i = if rects[a].area() >= rects[b].area() {
            a
        } else {
            b
        };
        let missing = spec.buffers - rects.len();
        let wheel = if missing >= 4 && rng.below(4) != 0 {
            pinwheel(rects[i], rng)
        } else {
            None
        };
        let (before, len) = (rects[i], rects.len());
        if let Some(p) = wheel {
            rects[i] = p[0];
            rects.extend_from_slice(&p[1..]);
        } else if let Some((l, r)) = split(rects[i], rng) {
            rects[i] = l;
            rects.push(r);
        }
        // A new line may complete a straight cut across the grid: undo that step.
        if rects.len() == len || has_full_cut(&rects, spec.width, spec.steps) {
            rects[i] = before;
            rects.truncate(len);
            stuck += 1;
        }
    }
    rects
}

/// A random pinwheel dissection of `r` (`None` when `r` is under 3 cells on a side).
fn pinwheel(r: Rect, rng: &mut Lcg) -> Option<[Rect; 5]> {
    let (w, h) = (r.x1 - r.x0, r.t1 - r.t0);
    if w < 3 || h < 3 {
        return None;
    }
    // x0 < a < b < x1 and t0 < c < d < t1.
    let a = r.x0 + 1 + rng.below((w - 2) as usize) as u32;
    let b = a + 1 + rng.below((r.x1 - a - 1) as usize) as u32;
    let c = r.t0 + 1 + rng.below((h - 2) as usize) as u32;
    let d = c + 1 + rng.below((r.t1 - c - 1) as usize) as u32;
    let q = |x0, x1, t0, t1| Rect { x0, x1, t0, t1 };
    Some([
        q(r.x0, b, r.t0, c),
        q(b, r.x1, r.t0, d),
        q(a, r.x1, d, r.t1),
        q(r.x0, a, c, r.t1),
        q(a, b, c, d),
    ])
}

/// True when a straight line crosses the whole `width x steps` grid between rectangles.
pub fn has_full_cut(rects: &[Rect], width: u32, steps: u32) -> bool {
    let time_cut = (1..steps).any(|t| rects.iter().all(|r| !(r.t0 < t && t < r.t1)));
    let memory_cut = (1..width).any(|x| rects.iter().all(|r| !(r.x0 < x && x < r.x1)));
    time_cut || memory_cut
}

/// True when the rectangles (tiling their bounding box) can be taken apart by straight cuts
/// down to single rectangles.
pub fn is_guillotine(rects: &[Rect]) -> bool {
    if rects.len() <= 1 {
        return true;
    }
    let x0 = rects.iter().map(|r| r.x0).min().unwrap_or(0);
    let x1 = rects.iter().map(|r| r.x1).max().unwrap_or(0);
    let t0 = rects.iter().map(|r| r.t0).min().unwrap_or(0);
    let t1 = rects.iter().map(|r| r.t1).max().unwrap_or(0);
    for t in t0 + 1..t1 {
        if rects.iter().all(|r| r.t1 <= t || r.t0 >= t) {
            let (a, b): (Vec<Rect>, Vec<Rect>) = rects.iter().partition(|r| r.t1 <= t);
            return is_guillotine(&a) && is_guillotine(&b);
        }
    }
    for x in x0 + 1..x1 {
        if rects.iter().all(|r| r.x1 <= x || r.x0 >= x) {
            let (a, b): (Vec<Rect>, Vec<Rect>) = rects.iter().partition(|r| r.x1 <= x);
            return is_guillotine(&a) && is_guillotine(&b);
        }
    }
    false
}

/// The rectangles as buffers (shuffled) and their offsets as a plan.
fn to_packing(rects: &[Rect], spec: &Spec) -> Packing {
    let mut order: Vec<usize> = (0..rects.len()).collect();
    let mut rng = Lcg::new(spec.seed ^ 0x5EED);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut buffers = Vec::with_capacity(rects.len());
    let mut offsets = Vec::with_capacity(rects.len());
    for (k, &i) in order.iter().enumerate() {
        let r = rects[i];
        buffers.push(Buffer {
            name: format!("r{k}"),
            lifetime: Lifetime {
                start: u64::from(r.t0),
                end: u64::from(r.t1),
            },
            size: u64::from(r.x1 - r.x0) * spec.unit,
            align: 1,
        });
        offsets.push(u64::from(r.x0) * spec.unit);
    }
    Packing {
        problem: Problem { buffers },
        plan: Plan {
            offsets,
            arena_bytes: u64::from(spec.width) * spec.unit,
        },
    }
}

/// The rectangles of a generated packing, rebuilt from its problem and plan (for checks).
pub fn rects_of(packing: &Packing, unit: u64) -> Vec<Rect> {
    packing
        .problem
        .buffers
        .iter()
        .zip(&packing.plan.offsets)
        .map(|(b, &o)| Rect {
            x0: (o / unit) as u32,
            x1: ((o + b.size) / unit) as u32,
            t0: b.lifetime.start as u32,
            t1: b.lifetime.end as u32,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{lower_bound, validate};

    #[test]
    fn packings_are_perfect_and_of_the_asked_kind() {
        for seed in 0..4 {
            for (kind, n) in [
                (Kind::Guillotine, 120),
                (Kind::NonGuillotine, 120),
                (Kind::NonGuillotine, 300),
            ] {
                let spec = Spec::new(kind, n, seed);
                let p = generate(&spec).unwrap();
                assert_eq!(p.problem.buffers.len(), n);
                validate(&p.problem, &p.plan).unwrap();
                assert_eq!(p.plan.arena_bytes, 64 * (16 << 10));
                assert_eq!(lower_bound(&p.problem), p.plan.arena_bytes);
                let rects = rects_of(&p, spec.unit);
                assert_eq!(
                    is_guillotine(&rects),
                    kind == Kind::Guillotine,
                    "{kind:?} {seed}"
                );
            }
        }
    }

    #[test]
    fn guillotine_check_sees_a_pinwheel() {
        // Four rectangles around a centre cell: no straight cut separates them.
        let r = |x0, x1, t0, t1| Rect { x0, x1, t0, t1 };
        let pinwheel = [
            r(0, 2, 0, 1),
            r(2, 3, 0, 2),
            r(1, 3, 2, 3),
            r(0, 1, 1, 3),
            r(1, 2, 1, 2),
        ];
        assert!(!is_guillotine(&pinwheel));
        assert!(!has_full_cut(&pinwheel, 3, 3));
        let stripes = [r(0, 3, 0, 1), r(0, 1, 1, 3), r(1, 3, 1, 3)];
        assert!(is_guillotine(&stripes));
        assert!(has_full_cut(&stripes, 3, 3));
    }

    #[test]
    fn same_seed_same_packing_and_bad_specs_are_refused() {
        let spec = Spec::new(Kind::NonGuillotine, 150, 7);
        let (a, b) = (generate(&spec).unwrap(), generate(&spec).unwrap());
        assert_eq!(a.problem, b.problem);
        assert!(generate(&Spec::new(Kind::Guillotine, 1, 0)).is_err());
        assert!(generate(&Spec::new(Kind::Guillotine, 64 * 64 + 1, 0)).is_err());
        let zero = Spec {
            unit: 0,
            ..Spec::new(Kind::Guillotine, 10, 0)
        };
        assert!(generate(&zero).is_err());
    }
}
