//! `tessera bench`: GEMM GFLOP/s of the WGSL kernels against the CPU sgemm at several shapes,
//! softmax / layernorm / elementwise GB/s with the plain and the best kernel variants, tiled
//! attention and direct convolution against their other lowerings, and
//! per-model run times of the planned run against the naive-dynamic and caching runs, side
//! by side in one run (see [`tessera::bench`]); a table each, and `--json FILE`.

use super::args::{BenchArgs, PlanOpts};
use super::output::{self, Progress};
use super::{CliError, plan, write_json};
use tessera::bench::{
    BenchReport, DEFAULT_SHAPES, FusedBench, GemmBench, KernelBench, ModelTimes, bench_fused,
    bench_gemm, bench_kernels, bench_model,
};
use tessera::models::catalog;
use tessera::report::Table;
use tessera::runtime::Gpu;

/// `MxKxN` as `(m, k, n)`, every size at least 1.
fn parse_shape(s: &str) -> Result<(usize, usize, usize), CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--shapes: `{s}` is not MxKxN with sizes of at least 1"
        ))
    };
    let dims: Vec<usize> = s
        .trim()
        .split('x')
        .map(|d| d.trim().parse::<usize>().ok().filter(|&d| d > 0))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    match dims[..] {
        [m, k, n] => Ok((m, k, n)),
        _ => Err(bad()),
    }
}

/// The models to compare: `--models`, else every default-size model.
fn model_names(args: &BenchArgs) -> Result<Vec<String>, CliError> {
    if args.no_models {
        return Ok(Vec::new());
    }
    let all = catalog();
    if args.models.is_empty() {
        let small = all.iter().filter(|m| !m.full_size);
        return Ok(small.map(|m| m.name.to_string()).collect());
    }
    for name in &args.models {
        if !all.iter().any(|m| m.name == name) {
            let known: Vec<_> = all.iter().map(|m| m.name).collect();
            return Err(CliError::Usage(format!(
                "--models: unknown model `{name}` (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(args.models.clone())
}

fn print_gemm(g: &GemmBench) {
    let mut head = vec!["M x K x N".to_string(), "cpu GFLOP/s".to_string()];
    for k in &g.rows.first().map_or(Vec::new(), |r| r.kernels.clone()) {
        head.push(format!("{} GFLOP/s", k.kernel.name()));
        head.push(format!("{} / cpu", k.kernel.name()));
    }
    let refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut table = Table::new(&refs);
    for r in &g.rows {
        let mut cells = vec![
            format!("{} x {} x {}", r.m, r.k, r.n),
            format!("{:.2}", r.cpu_gflops),
        ];
        for k in &r.kernels {
            cells.push(format!("{:.2}", k.gflops));
            cells.push(format!("{:.3}x", k.ratio_to_cpu));
        }
        table.row(cells);
    }
    print!("{table}");
    println!(
        "GPU time: {} (best of the timed runs); CPU: {}; the adapter table picks `{}` here.",
        if g.timer == "timestamps" {
            "compute-pass timestamps"
        } else {
            "wall time incl. upload and readback"
        },
        g.cpu,
        g.table_kernel.name()
    );
}

fn print_kernels(k: &KernelBench) {
    let variant = |o: &tessera::runtime::KernelOptions| {
        format!(
            "{} reductions, {} elementwise",
            if o.subgroups {
                "subgroup"
            } else {
                "workgroup-memory"
            },
            if o.vec4 { "vec4" } else { "scalar" }
        )
    };
    let mut table = Table::new(&["op", "shape", "plain GB/s", "best GB/s", "best / plain"]);
    for r in &k.rows {
        table.row(vec![
            r.op.clone(),
            r.shape.clone(),
            format!("{:.2}", r.plain_gbs),
            format!("{:.2}", r.best_gbs),
            format!("{:.2}x", r.speedup),
        ]);
    }
    print!("{table}");
    println!(
        "plain: {}; best (this device): {}; GPU time: {}, best of the timed runs.",
        variant(&k.plain),
        variant(&k.best),
        if k.timer == "timestamps" {
            "compute-pass timestamps"
        } else {
            "wall time incl. upload and readback"
        }
    );
}

fn print_fused(f: &FusedBench) {
    let mut table = Table::new(&[
        "op",
        "shape",
        "fused GFLOP/s",
        "other GFLOP/s",
        "other / fused",
    ]);
    for r in &f.rows {
        table.row(vec![
            r.op.clone(),
            r.shape.clone(),
            format!("{:.2}", r.fused_gflops),
            format!("{:.2}", r.other_gflops),
            format!("{:.2}x", r.other_over_fused),
        ]);
    }
    print!("{table}");
    println!(
        "other: materialised attention (scores in the workspace) or im2col + GEMM; GPU time: {}.",
        if f.timer == "timestamps" {
            "compute-pass timestamps"
        } else {
            "wall time incl. upload and readback"
        }
    );
}

fn print_models(models: &[ModelTimes]) {
    let mut table = Table::new(&[
        "model",
        "planned",
        "naive-dynamic",
        "caching",
        "naive-dynamic / planned",
        "caching / planned",
    ]);
    for m in models {
        table.row(vec![
            m.model.clone(),
            format!("{:.1} ms", m.planned_ms),
            format!("{:.1} ms", m.naive_dynamic_ms),
            format!("{:.1} ms", m.caching_ms),
            format!("{:.2}x", m.naive_dynamic_over_planned),
            format!("{:.2}x", m.caching_over_planned),
        ]);
    }
    print!("{table}");
    println!(
        "Best host wall time of one whole run each (the baselines sample the allocator per node)."
    );
}

/// Runs the command.
pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let shapes = if args.shapes.is_empty() {
        DEFAULT_SHAPES.to_vec()
    } else {
        args.shapes
            .iter()
            .map(|s| parse_shape(s))
            .collect::<Result<_, _>>()?
    };
    let models = model_names(args)?;
    let gpu = Gpu::new()?;
    let s = gpu.summary();
    let show = output::show_report(args.json.as_deref());
    if show {
        println!(
            "adapter: {} ({}, {}, {})",
            s.name, s.backend, s.device_type, s.driver
        );
    }
    let spinner = Progress::spinner(format!("bench: GEMM at {} shapes", shapes.len()));
    let gemm = bench_gemm(&gpu, &shapes, args.reps)?;
    drop(spinner);
    if show {
        print_gemm(&gemm);
    }
    let kernels = if args.no_kernels {
        None
    } else {
        let spinner = Progress::spinner("bench: softmax, layernorm and elementwise kernels");
        let k = bench_kernels(&gpu, args.kernel_elements.max(1), args.reps)?;
        drop(spinner);
        if show {
            println!();
            print_kernels(&k);
        }
        Some(k)
    };
    let fused = if args.no_kernels {
        None
    } else {
        let spinner = Progress::spinner("bench: tiled attention and direct convolution");
        let f = bench_fused(&gpu, args.reps)?;
        drop(spinner);
        if show {
            println!();
            print_fused(&f);
        }
        Some(f)
    };
    let opts = PlanOpts::defaults();
    let cfg = plan::config(&opts, gpu.min_storage_buffer_offset_alignment())?;
    let mut times = Vec::new();
    let progress = Progress::bar(models.len() as u64, "bench: models");
    for name in &models {
        progress.set_message(format!("bench: {name}"));
        times.push(bench_model(&gpu, name, &cfg, args.reps)?);
        progress.inc();
    }
    drop(progress);
    if show && !times.is_empty() {
        println!();
        print_models(&times);
    }
    if let Some(path) = &args.json {
        let report = BenchReport {
            adapter: s.clone(),
            gemm,
            models: times,
            kernels,
            fused,
        };
        write_json(path, &report)?;
    }
    Ok(())
}
