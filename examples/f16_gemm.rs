//! The adapter's GEMM on f32 and on f16 storage (native `f16` and `u32`-packed), side by side
//! in one run: one `[M, K] x [K, N]` matmul compiled three times, each run `REPS` times after a
//! warm-up, the best wall time of each reported with its GFLOP/s and its ratio to f32.
//!
//! Usage: `cargo run --release --example f16_gemm -- [M K N [REPS]]` (default 1024 1024 1024 3).

use std::error::Error;
use tessera::graph::{DType, Graph, GraphBuilder, Init, Op};
use tessera::layout::naive_layout;
use tessera::runtime::shaders::FloatStorage;
use tessera::runtime::{Gpu, compile};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [m, k, n] = match args.get(..3) {
        Some(&[m, k, n]) => [m, k, n],
        _ => [1024; 3],
    };
    let reps = args.get(3).copied().unwrap_or(3).max(1);
    let flop = 2.0 * (m * k * n) as f64;
    let mut f32_ms = None;
    for storage in FloatStorage::ALL {
        let gpu = match storage {
            FloatStorage::F32 => Gpu::new()?,
            s => match Gpu::new()?.with_f16_storage(s) {
                Ok(g) => g,
                Err(e) => {
                    println!("{:<7} skipped: {e}", storage.name());
                    continue;
                }
            },
        };
        let graph = matmul(m, k, n, storage);
        let layout = naive_layout(&graph, gpu.min_storage_buffer_offset_alignment())?;
        let compiled = compile(&gpu, &graph, &layout)?;
        compiled.run(&gpu)?;
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            best = best.min(compiled.run(&gpu)?.wall_ms);
        }
        let base = *f32_ms.get_or_insert(best);
        println!(
            "{:<7} {m}x{k}x{n}: best of {reps} {best:9.1} ms  {:7.2} GFLOP/s  time vs f32 {:.2}",
            storage.name(),
            flop / best / 1e6,
            best / base
        );
    }
    Ok(())
}

/// `[m, k] x [k, n]` with float tensors of `storage`'s dtype.
fn matmul(m: usize, k: usize, n: usize, storage: FloatStorage) -> Graph {
    let dtype = match storage {
        FloatStorage::F32 => DType::F32,
        FloatStorage::F16 | FloatStorage::F16Packed => DType::F16,
    };
    let mut b = GraphBuilder::new();
    let init = |seed| Init::Uniform { seed, scale: 1.0 };
    let a = b.input("a", &[m, k], DType::F32, init(1));
    let w = b.input("b", &[k, n], DType::F32, init(2));
    let op = Op::MatMul {
        trans_a: false,
        trans_b: false,
    };
    let y = b.op("y", op, &[a, w]).expect("matmul of matching shapes");
    b.output(y);
    let mut graph = b.build().expect("valid graph");
    for t in &mut graph.tensors {
        t.dtype = dtype;
    }
    graph
}
