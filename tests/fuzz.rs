//! Fuzz test of everything a user can feed tessera without a GPU: graph JSON (as `tessera export`
//! writes it), minimalloc CSV, and the model size options of the command line.
//!
//! A seeded generator (xorshift, reproducible: the failing case's seed is printed) mutates valid
//! inputs with bit flips, truncation, huge and negative numbers, duplicate ids, cycles, dangling
//! ids and dimension products that overflow, and pushes each case through parsing, validation
//! and planning (analysis, a planner, the plan validator, the layout). Every case must end in a
//! value or an error; no panic (each case runs under `catch_unwind`), and every error renders as
//! exactly one line. Work is bounded: planners that search get a few milliseconds, and a graph
//! or CSV above a size cap is not planned (the mutators cannot reach the cap; it is asserted).

use serde_json::{Value, json};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::time::Duration;
use tessera::analysis::{AnalysisOptions, WorkspacePolicy};
use tessera::graph::Graph;
use tessera::models::{ModelOptions, build};
use tessera::pipeline::{PlanConfig, plan_graph};
use tessera::plan::{Budget, parse_csv, plan_and_check, planner_names};
use tessera::schedule::Scheduler;

/// Cases per input family (three families: at least 10,000 cases in all).
const CASES: usize = 5000;
/// Valid graphs whose CPU reference holds at most this many bytes are also evaluated.
const CPU_CAP_BYTES: u64 = 1 << 20;
/// Graphs with more nodes (and CSV problems with more buffers) are not planned.
const SIZE_CAP: usize = 2000;

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Numbers that break arithmetic: zero, powers of two around 32 and 64 bits, the maximum.
const EDGE: &[u64] = &[
    0,
    1,
    2,
    3,
    255,
    256,
    65_535,
    65_536,
    1 << 31,
    1 << 32,
    (1 << 32) + 1,
    1 << 40,
    1 << 53,
    1 << 61,
    1 << 62,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

/// A number as text: an edge value, a negative, one past `u64`, a float, or junk.
fn wild_number(rng: &mut Rng) -> String {
    match rng.below(8) {
        0..=3 => rng.pick(EDGE).to_string(),
        4 => format!("-{}", rng.pick(EDGE)),
        5 => "18446744073709551616".into(),
        6 => rng.pick(&["1e30", "3.5", "-0", "NaN", "0x10"]).to_string(),
        _ => rng.below(20).to_string(),
    }
}

thread_local! {
    /// True while a fuzz case runs: its panics are caught and reported, not printed.
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// The message of the last caught panic.
    static PANIC: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Installs (once) a panic hook that records the panics of fuzz cases and prints the others.
fn quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                PANIC.with(|p| *p.borrow_mut() = info.to_string());
            } else {
                default(info);
            }
        }));
    });
}

/// Runs one case: fails the test on a panic, naming the family, seed and input.
fn run_case(family: &str, seed: u64, input: &str, case: impl FnOnce()) {
    IN_CASE.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(case));
    IN_CASE.with(|c| c.set(false));
    if result.is_err() {
        let message = PANIC.with(|p| p.borrow().clone());
        let shown: String = input.chars().take(1500).collect();
        panic!("{family} case with seed {seed} panicked: {message}\ninput:\n{shown}");
    }
}

/// Every error must render as exactly one non-empty line.
fn one_line(stage: &str, error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(
        !text.trim().is_empty() && !text.contains(['\n', '\r']),
        "{stage} error is not one line: {text:?}"
    );
}

/// Text mutations: a bit flip, truncation, a number replaced, a line duplicated or dropped.
fn mutate_text(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    match rng.below(5) {
        0 if !bytes.is_empty() => {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
        }
        1 => bytes.truncate(rng.below(bytes.len() + 1)),
        2 => {
            // Replace the k-th run of digits with a wild number.
            let runs: Vec<(usize, usize)> = digit_runs(&bytes);
            if !runs.is_empty() {
                let (s, e) = *rng.pick(&runs);
                let n = wild_number(rng);
                bytes.splice(s..e, n.into_bytes());
            }
        }
        3 => {
            let lines: Vec<&str> = text.lines().collect();
            let mut out: Vec<&str> = lines.clone();
            if !lines.is_empty() {
                let k = rng.below(lines.len());
                if rng.chance(2) {
                    out.insert(k, lines[k]);
                } else {
                    out.remove(k);
                }
            }
            bytes = out.join("\n").into_bytes();
        }
        _ => {
            let i = rng.below(bytes.len() + 1);
            let junk = rng.pick(&[",", "\n", "\r", "\"", "{", "]", "-", "\\n", "\u{0}"]);
            bytes.splice(i..i, junk.bytes());
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let s = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// A JSON number from the edge values (negative ones too; serde must refuse those).
fn wild_json_number(rng: &mut Rng) -> Value {
    if rng.chance(5) {
        json!(-(rng.below(1000) as i64) - 1)
    } else {
        json!(*rng.pick(EDGE))
    }
}

/// Picks a random element of a JSON array (by index), if any.
fn index_of(rng: &mut Rng, v: &Value) -> Option<usize> {
    v.as_array()
        .filter(|a| !a.is_empty())
        .map(|a| rng.below(a.len()))
}

/// Structured mutations of a graph's JSON: huge dimensions (alone, or the batch of every tensor
/// at once so the graph stays consistent), duplicate and dangling ids, cycles, bad outputs,
/// attributes, dtypes, kinds and names with control characters.
fn mutate_graph(rng: &mut Rng, g: &mut Value) {
    let kind = rng.below(11);
    mutate_graph_with(rng, g, kind);
}

/// Applies mutation number `kind` (see [`mutate_graph`]): 2 to 6 change ids, the others values.
fn mutate_graph_with(rng: &mut Rng, g: &mut Value, kind: usize) {
    if (2..=6).contains(&kind) {
        mutate_ids(rng, g, kind);
    } else {
        mutate_values(rng, g, kind);
    }
}

/// Id mutations: duplicate producers, cycles, dangling inputs, bad outputs, nodes duplicated
/// or dropped.
fn mutate_ids(rng: &mut Rng, g: &mut Value, kind: usize) {
    let n_tensors = g["tensors"].as_array().map_or(0, Vec::len);
    let n_nodes = g["nodes"].as_array().map_or(0, Vec::len);
    match kind {
        2 if n_nodes > 0 => {
            // A duplicate producer: a node's output becomes another tensor's id.
            let n = rng.below(n_nodes);
            g["nodes"][n]["outputs"][0] = json!(rng.below(n_tensors.max(1)));
        }
        3 if n_nodes > 1 => {
            // A cycle: an early node reads a later node's output.
            let (a, b) = (rng.below(n_nodes), rng.below(n_nodes));
            let (early, late) = (a.min(b), a.max(b));
            let out = g["nodes"][late]["outputs"][0].clone();
            if let Some(k) = index_of(rng, &g["nodes"][early]["inputs"]) {
                g["nodes"][early]["inputs"][k] = out;
            }
        }
        4 if n_nodes > 0 => {
            let n = rng.below(n_nodes);
            if let Some(k) = index_of(rng, &g["nodes"][n]["inputs"]) {
                g["nodes"][n]["inputs"][k] = wild_json_number(rng);
            }
        }
        5 => {
            let id = if rng.chance(2) {
                json!(rng.below(n_tensors + 2))
            } else {
                wild_json_number(rng)
            };
            match g["outputs"].as_array_mut() {
                Some(o) if rng.chance(4) => o.clear(),
                Some(o) => o.push(id),
                None => {}
            }
        }
        6 if n_nodes > 0 => {
            // A node duplicated (its output then has two producers) or dropped.
            let n = rng.below(n_nodes);
            let node = g["nodes"][n].clone();
            if let Some(nodes) = g["nodes"].as_array_mut() {
                if rng.chance(2) {
                    nodes.insert(n, node);
                } else {
                    nodes.remove(n);
                }
            }
        }
        _ => {}
    }
}

/// Value mutations: dimensions (one, or the batch everywhere), attributes, dtypes, kinds, names.
fn mutate_values(rng: &mut Rng, g: &mut Value, kind: usize) {
    let n_tensors = g["tensors"].as_array().map_or(0, Vec::len);
    let n_nodes = g["nodes"].as_array().map_or(0, Vec::len);
    match kind {
        0 => {
            if let Some(t) = index_of(rng, &g["tensors"])
                && let Some(d) = index_of(rng, &g["tensors"][t]["shape"])
            {
                g["tensors"][t]["shape"][d] = wild_json_number(rng);
            }
        }
        1 => {
            // The batch dimension of every tensor at once: a consistent graph with huge sizes.
            let batch = g["tensors"][0]["shape"][0].clone();
            let new = json!(*rng.pick(EDGE));
            for t in g["tensors"].as_array_mut().into_iter().flatten() {
                for d in t["shape"].as_array_mut().into_iter().flatten() {
                    if *d == batch {
                        *d = new.clone();
                    }
                }
            }
            for node in g["nodes"].as_array_mut().into_iter().flatten() {
                walk_numbers(&mut node["op"], &batch, &new);
            }
        }
        7 if n_nodes > 0 => {
            // Attribute numbers (strides, padding, axes, perms, reshape targets) made wild.
            let n = rng.below(n_nodes);
            let number = wild_json_number(rng);
            let mut numbers = Vec::new();
            collect_number_paths(&g["nodes"][n]["op"], &mut Vec::new(), &mut numbers);
            if !numbers.is_empty() {
                let path = rng.pick(&numbers).clone();
                set_at(&mut g["nodes"][n]["op"], &path, number);
            }
        }
        8 if n_tensors > 0 => {
            let t = rng.below(n_tensors);
            g["tensors"][t]["dtype"] = json!(rng.pick(&["F32", "F16", "U32", "F64"]));
        }
        9 if n_tensors > 0 => {
            let t = rng.below(n_tensors);
            g["tensors"][t]["kind"] = json!(rng.pick(&["Input", "Weight", "Activation"]));
        }
        _ if n_tensors > 0 => {
            let t = rng.below(n_tensors);
            g["tensors"][t]["name"] = json!(rng.pick(&["a\nb", "tab\there", "\r", "", "x"]));
        }
        _ => {}
    }
}

/// Replaces every number equal to `from` inside `v` with `to` (attributes follow the batch).
fn walk_numbers(v: &mut Value, from: &Value, to: &Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| walk_numbers(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| walk_numbers(x, from, to)),
        x if x == from => *x = to.clone(),
        _ => {}
    }
}

/// Paths (object keys and array indices) of every number inside `v`.
fn collect_number_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Number(_) => out.push(path.clone()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(json!(i));
                collect_number_paths(x, path, out);
                path.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                path.push(json!(k));
                collect_number_paths(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn set_at(v: &mut Value, path: &[Value], new: Value) {
    let mut cur = v;
    for key in path {
        cur = match key {
            Value::String(k) => &mut cur[k.as_str()],
            Value::Number(i) => &mut cur[i.as_u64().unwrap_or(0) as usize],
            _ => return,
        };
    }
    *cur = new;
}

/// Parsing, validation and planning of one graph text; every error one line. True when a
/// plan came out.
fn graph_case(rng: &mut Rng, text: &str) -> bool {
    let graph = match Graph::from_json(text) {
        Ok(g) => g,
        Err(e) => {
            one_line("graph JSON", &e);
            return false;
        }
    };
    if let Err(e) = graph.validate() {
        one_line("graph validation", &e);
        return false;
    }
    assert!(
        graph.nodes.len() <= SIZE_CAP,
        "mutations cannot grow a graph past the cap"
    );
    let host = tessera::cpu::host_peak_bytes(&graph, tessera::cpu::Retention::UntilLastUse);
    if host <= CPU_CAP_BYTES {
        // Small enough to evaluate: the CPU reference must give values or a one-line error.
        if let Err(e) = tessera::cpu::run_outputs(&graph) {
            one_line("CPU reference", &e);
        }
    }
    plan_case(rng, &graph)
}

/// Plans a valid graph at a random alignment, planner and reuse setting; true on success.
fn plan_case(rng: &mut Rng, graph: &Graph) -> bool {
    let planner = *rng.pick(&[
        "greedy-size",
        "best-fit",
        "first-fit",
        "naive",
        "auto",
        "coloring",
    ]);
    let cfg = PlanConfig {
        planner: planner.to_string(),
        budget: Budget {
            time_limit: Duration::from_millis(2),
        },
        analysis: AnalysisOptions {
            alignment: *rng.pick(&[1, 4, 256, 256, 256, 1 << 32, 3, 0, 1 << 63]),
            in_place: rng.chance(2),
            workspace: *rng.pick(&WorkspacePolicy::ALL),
            streamed_inputs: false,
        },
        schedule: *rng.pick(&[
            Scheduler::Program,
            Scheduler::Program,
            Scheduler::Greedy,
            Scheduler::Beam,
            Scheduler::Exact,
            Scheduler::Auto,
        ]),
    };
    match plan_graph(graph, &cfg) {
        Ok(p) => {
            assert!(p.outcome.plan.arena_bytes >= p.lower_bound);
            check_layout(graph, &p.layout);
            if let Err(e) = tessera::layout::naive_layout(graph, cfg.analysis.alignment) {
                one_line("naive layout", &e);
            }
            true
        }
        Err(e) => {
            one_line("planning", &e);
            false
        }
    }
}

/// Every tensor lies inside the one buffer, checked in 128-bit arithmetic so that a wrapped
/// (overflowed) offset or size cannot hide.
fn check_layout(graph: &Graph, layout: &tessera::layout::MemoryLayout) {
    // Weights, guard band, arena, guard band.
    let total = u128::from(layout.weights_bytes)
        + 2 * u128::from(layout.guard_bytes)
        + u128::from(layout.arena_bytes);
    assert_eq!(
        total,
        u128::from(layout.total_bytes()),
        "buffer size wrapped"
    );
    for (t, &offset) in graph.tensors.iter().zip(&layout.tensor_offsets) {
        // The size recomputed here, independently of the library's arithmetic.
        let bytes = t
            .shape
            .dims()
            .iter()
            .try_fold(u128::from(t.dtype.size_bytes()), |acc, &d| {
                acc.checked_mul(d as u128)
            })
            .filter(|&b| b <= u128::from(u64::MAX));
        let bytes = bytes.unwrap_or_else(|| panic!("tensor `{}` {} was accepted", t.name, t.shape));
        let end = u128::from(offset) + bytes;
        assert!(
            end <= total,
            "tensor `{}` ends at {end}, past the buffer {total}",
            t.name
        );
    }
}

/// Small versions of every built-in model, serialised as `tessera export` does. A batch of 13
/// appears nowhere else in these graphs, so a mutation can find and scale it; the other sizes
/// are tiny so the CPU reference evaluates them in microseconds.
fn seed_graphs() -> Vec<String> {
    let opts = |seq, image, width| ModelOptions {
        batch: Some(13),
        seq,
        image,
        width: Some(width),
        layers: Some(1),
        ..ModelOptions::default()
    };
    [
        ("mlp", opts(None, None, 8)),
        ("gpt", opts(Some(5), None, 8)),
        ("resnet", opts(None, Some(6), 4)),
    ]
    .iter()
    .map(|(name, opts)| {
        let g = build(name, opts).expect("a built-in model builds");
        serde_json::to_string_pretty(&g).expect("graphs serialise") + "\n"
    })
    .collect()
}

#[test]
fn fuzz_graph_json() {
    quiet_hook();
    let seeds = seed_graphs();
    let (mut valid, mut plans) = (0, 0);
    for case in 0..CASES {
        let seed = 0x6752_4150_0000 + case as u64;
        let mut rng = Rng::new(seed);
        let base = rng.pick(&seeds);
        let text = if rng.chance(4) {
            let mut t = base.clone();
            for _ in 0..=rng.below(2) {
                t = mutate_text(&mut rng, &t);
            }
            t
        } else {
            let mut v: Value = serde_json::from_str(base).expect("seed graphs are JSON");
            if rng.chance(2) {
                // Consistent huge sizes first, then maybe one more mutation on top.
                mutate_graph_with(&mut rng, &mut v, 1);
            }
            for _ in 0..rng.below(3) {
                mutate_graph(&mut rng, &mut v);
            }
            v.to_string()
        };
        let planned = Cell::new(false);
        run_case("graph JSON", seed, &text, || {
            planned.set(graph_case(&mut rng, &text));
        });
        valid += usize::from(Graph::from_json(&text).and_then(|g| g.validate()).is_ok());
        plans += usize::from(planned.get());
    }
    println!(
        "fuzz: {CASES} graph JSON cases: {valid} valid graphs, {plans} planned, the rest refused"
    );
}

/// Structured CSV mutations: huge, negative and swapped numbers, duplicate ids, an alignment
/// column with wild values.
fn mutate_csv(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() < 2 {
        return text.to_string();
    }
    let k = 1 + rng.below(lines.len() - 1);
    let mut fields: Vec<String> = lines[k].split(',').map(str::to_string).collect();
    match rng.below(4) {
        0 => {
            let f = 1 + rng.below(fields.len().saturating_sub(1).max(1));
            if f < fields.len() {
                fields[f] = wild_number(rng);
            }
        }
        1 if fields.len() >= 3 => fields.swap(1, 2),
        2 => {
            let other = 1 + rng.below(lines.len() - 1);
            if let Some(id) = lines[other].split(',').next() {
                fields[0] = id.to_string();
            }
        }
        _ => {
            lines[0].push_str(",alignment");
            for line in lines.iter_mut().skip(1) {
                line.push(',');
                line.push_str(&wild_number(rng));
            }
            return lines.join("\n");
        }
    }
    lines[k] = fields.join(",");
    lines.join("\n")
}

/// Parsing and planning of one CSV text; every error one line.
fn csv_case(rng: &mut Rng, text: &str) {
    let problem = match parse_csv(text) {
        Ok(p) => p,
        Err(e) => return one_line("CSV", &e),
    };
    assert!(
        problem.buffers.len() <= SIZE_CAP,
        "mutations cannot grow a CSV past the cap"
    );
    let budget = Budget {
        time_limit: Duration::from_millis(2),
    };
    let planner = *rng.pick(planner_names());
    if let Err(e) = plan_and_check(&problem, planner, &budget) {
        one_line("CSV planning", &e);
    }
}

#[test]
fn fuzz_csv() {
    quiet_hook();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let mut seeds: Vec<String> = ["input.12.csv", "A.1048576.csv"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("{dir}/{f}")).expect("test data"))
        .collect();
    seeds.push("id,lower,upper,size,alignment\na,0,2,8,8\nb,1,3,5,3\nc,2,4,1,1\n".into());
    seeds.push("buffer,begin,end,size\n0,0,0,4\n1,0,1,4\n".into());
    let mut parsed = 0;
    for case in 0..CASES {
        let seed = 0x4353_5600_0000 + case as u64;
        let mut rng = Rng::new(seed);
        let mut text = rng.pick(&seeds).clone();
        for _ in 0..=rng.below(2) {
            text = if rng.chance(3) {
                mutate_text(&mut rng, &text)
            } else {
                mutate_csv(&mut rng, &text)
            };
        }
        run_case("CSV", seed, &text, || csv_case(&mut rng, &text));
        parsed += usize::from(parse_csv(&text).is_ok());
    }
    println!("fuzz: {CASES} CSV cases: {parsed} parsed and planned, the rest refused");
}

/// An option value as typed on the command line.
fn option_text(rng: &mut Rng) -> Option<String> {
    match rng.below(12) {
        0..=5 => None,
        6..=8 => Some(rng.pick(&["1", "2", "3", "4", "7", "16", "33"]).to_string()),
        _ => Some(wild_number(rng)),
    }
}

/// Parses an option as clap does for a `usize` (an error is one line too).
fn parse_option(text: &Option<String>) -> Result<Option<usize>, String> {
    match text {
        None => Ok(None),
        Some(t) => t.parse::<usize>().map(Some).map_err(|e| {
            let msg = format!("invalid value '{t}': {e}");
            one_line("option parsing", &msg);
            msg
        }),
    }
}

/// Model options through the CLI's path: parse, build (option checks, size limit, validation),
/// then plan at a parsed alignment. True when the model was built.
fn options_case(rng: &mut Rng, texts: &[Option<String>; 10], model: &str) -> bool {
    let parsed: Result<Vec<Option<usize>>, String> = texts[..9].iter().map(parse_option).collect();
    let Ok(v) = parsed else { return false };
    let opts = ModelOptions {
        batch: v[0],
        seq: v[1],
        image: v[2],
        width: v[3],
        layers: v[4],
        heads: v[5],
        vocab: v[6],
        nodes: v[7],
        seed: v[8],
    };
    let graph = match build(model, &opts) {
        Ok(g) => g,
        Err(e) => {
            one_line("model options", &e);
            return false;
        }
    };
    let layers = opts.layers.unwrap_or(0);
    assert!(
        layers <= tessera::models::MAX_LAYERS,
        "layers past the cap must be refused"
    );
    graph.validate().expect("built models validate");
    if layers > 8 {
        return true; // valid but slow to plan thousands of times; the cap above is what matters
    }
    let alignment = match texts[9].as_deref().map(str::parse::<u64>) {
        None => 256,
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            one_line("alignment parsing", &e);
            return true;
        }
    };
    if let Err(e) = tessera::bytes::check_alignment(alignment) {
        one_line("alignment", &e);
        return true;
    }
    let cfg = PlanConfig {
        planner: rng.pick(&["greedy-size", "best-fit"]).to_string(),
        ..PlanConfig::default()
    };
    let cfg = PlanConfig {
        analysis: AnalysisOptions {
            alignment,
            ..cfg.analysis
        },
        ..cfg
    };
    let Some(graph) = conv_case(rng, graph) else {
        return true;
    };
    if let Err(e) = plan_graph(&graph, &cfg) {
        one_line("planning", &e);
    }
    true
}

/// `--conv` and `--workspace-cap` through the CLI's path: a random cap (sizes with and without
/// suffixes, wild numbers) under every mode; a refusal is one line, and every choice made
/// validates. Returns the graph under one of the modes, to plan.
fn conv_case(rng: &mut Rng, graph: Graph) -> Option<Graph> {
    use tessera::graph::conv::{ConvMode, choose};
    let cap = match option_text(rng) {
        None => None,
        Some(t) => {
            let t = format!(
                "{t}{}",
                rng.pick(&["", "B", "B", "KiB", "MiB", "GiB", "kb"])
            );
            match tessera::bytes::parse_size(&t) {
                Ok(cap) => Some(cap),
                Err(e) => {
                    one_line("--workspace-cap", &e);
                    return None;
                }
            }
        }
    };
    let mut chosen: Vec<_> = [ConvMode::Im2col, ConvMode::Direct, ConvMode::Auto]
        .into_iter()
        .filter_map(|mode| match choose(&graph, mode, cap) {
            Ok(g) => {
                g.validate().expect("every conv choice validates");
                Some(g)
            }
            Err(e) => {
                one_line("--conv", &e);
                None
            }
        })
        .collect();
    let pick = rng.below(chosen.len());
    (pick < chosen.len()).then(|| chosen.swap_remove(pick))
}

#[test]
fn fuzz_model_options() {
    quiet_hook();
    let mut built = 0;
    for case in 0..CASES {
        let seed = 0x4f50_5400_0000 + case as u64;
        let mut rng = Rng::new(seed);
        let texts: [Option<String>; 10] = std::array::from_fn(|_| option_text(&mut rng));
        let model = *rng.pick(&[
            "mlp", "gpt", "resnet", "unet", "randwire", "mlp", "gpt", "resnet", "nosuch",
        ]);
        let shown = format!("--model {model} {texts:?}");
        let ok = Cell::new(false);
        run_case("model options", seed, &shown, || {
            ok.set(options_case(&mut rng, &texts, model));
        });
        built += usize::from(ok.get());
    }
    println!("fuzz: {CASES} model option cases, {built} built a model (the rest refused)");
}
