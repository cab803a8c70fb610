//! Device tests of the lowering (run on lavapipe in CI): folded grids, GEMM leading
//! dimensions, and kernel variants, each against the CPU reference.

mod fold {
    //! Folded grids on the device: real devices allow 65,535 workgroups per dimension, so the 3-D
    //! fold (more than 65,535^2 workgroups) cannot be reached by a test. Here the lowering is given
    //! a per-dimension limit of 5, so 26 or more workgroups fold into 3-D grids, and every folded
    //! kernel family runs on the GPU (lavapipe in CI) against the CPU reference.

    use super::super::Lowerer;
    use crate::graph::{AttentionKernel, DType, Graph, GraphBuilder, Init, Op, TensorKind};
    use crate::layout::naive_layout;
    use crate::runtime::dispatch::{
        ParamsBuffer, Pipelines, bind_step, output_specs, read_ranges, submit_steps, to_outputs,
    };
    use crate::runtime::{GemmKernel, Gpu};

    /// The per-dimension limit the lowering is told.
    const TINY: u32 = 5;

    /// Runs `graph` with every dispatch lowered against [`TINY`] and compares with the CPU.
    fn check_folded(gpu: &Gpu, graph: &Graph, what: &str) {
        check_folded_with(gpu, graph, what, gpu.gemm_kernel());
    }

    /// [`check_folded`] with `gemm` running the GEMMs.
    fn check_folded_with(gpu: &Gpu, graph: &Graph, what: &str, gemm: GemmKernel) {
        let layout =
            naive_layout(graph, gpu.min_storage_buffer_offset_alignment()).expect("naive layout");
        let lowerer = Lowerer {
            graph,
            place: &layout,
            max_groups: TINY,
            max_binding: gpu.max_binding(),
            align: gpu.min_storage_buffer_offset_alignment(),
            gemm,
            subgroups: gpu.has_subgroups(),
            vec4: true,
            f16: gpu.f16_storage(),
        };
        let steps: Vec<_> = graph
            .node_ids()
            .flat_map(|id| lowerer.lower(id).expect("lower"))
            .collect();
        assert!(steps.iter().any(|s| s.groups[2] > 1), "{what}: no 3-D grid");
        let device = gpu.device();
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fold test"),
            size: layout.total_bytes().div_ceil(4) * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        for kind in [TensorKind::Weight, TensorKind::Input] {
            for t in graph.tensors_of_kind(kind) {
                let tensor = &graph.tensors[t.index()];
                let words = tensor.init.words(tensor.shape.numel() as usize);
                gpu.queue()
                    .write_buffer(&buffer, layout.offset(t), bytemuck::cast_slice(&words));
            }
        }
        let params = ParamsBuffer::new(gpu, steps.iter()).expect("params");
        let mut kernels = Pipelines::default();
        let bound: Vec<_> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                bind_step(device, &mut kernels, &params, i as u64, s, &buffer).expect("bind")
            })
            .collect();
        submit_steps(gpu, &kernels.pipelines, bound.iter()).expect("run");
        let specs = output_specs(graph, &layout);
        let ranges: Vec<_> = specs.iter().map(|s| (&buffer, s.2.offset, s.3)).collect();
        let encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let bytes = read_ranges(gpu, encoder, &ranges).expect("read");
        let which: Vec<_> = specs.iter().map(|s| (s.0, s.1)).collect();
        let want = crate::cpu::run_outputs(graph).expect("cpu");
        for (got, want) in to_outputs(&which, &bytes).iter().zip(&want) {
            let (got, want) = (got.to_f32(), want.as_f32().expect("f32 output"));
            let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * scale,
                    "{what}: element {k}: gpu {g}, cpu {w}"
                );
            }
        }
    }

    fn input(b: &mut GraphBuilder, dims: &[usize], seed: u64) -> crate::graph::TensorId {
        let name = format!("x{seed}");
        b.input(&name, dims, DType::F32, Init::Uniform { seed, scale: 1.0 })
    }

    #[test]
    fn every_folded_kernel_family_agrees_with_the_cpu() {
        let gpu =
            Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)");
        // 1-D: 30 * 256 + 17 elements -> 31 workgroups -> [5, 5, 2]; the relu reads them as vec4s
        // (4 elements per invocation, so 4 times as many), the product with one broadcast value
        // one per invocation.
        let mut b = GraphBuilder::new();
        let x = input(&mut b, &[4 * (30 * 256 + 17)], 1);
        let y = b.relu("relu", x).expect("relu");
        b.output(y);
        let x = input(&mut b, &[30 * 256 + 17], 11);
        let one = input(&mut b, &[1], 12);
        let z = b.op("mul", Op::Binary(crate::graph::BinaryOp::Mul), &[x, one]);
        b.output(z.expect("mul"));
        check_folded(&gpu, &b.build().expect("graph"), "relu");
        // GEMM: 31 row tiles of 64 (61 of 32) of a linear; 3 batches of 3 (5) row tiles of a
        // matmul; both GEMM kernels.
        let mut b = GraphBuilder::new();
        let x = input(&mut b, &[64 * 30 + 7, 3], 2);
        let w = b.weight("w", &[3, 5], 3, 0.5);
        let bias = b.weight("bias", &[5], 4, 0.5);
        let y = b.linear("linear", x, w, Some(bias)).expect("linear");
        b.output(y);
        let a = input(&mut b, &[3, 16 * 8 + 5, 4], 5);
        let m = b.weight("m", &[4, 19], 6, 0.5);
        let mm = Op::MatMul {
            trans_a: false,
            trans_b: false,
        };
        let z = b.op("matmul", mm, &[a, m]).expect("matmul");
        b.output(z);
        let g = b.build().expect("graph");
        for gemm in GemmKernel::ALL {
            check_folded_with(&gpu, &g, &format!("gemm {}", gemm.name()), gemm);
        }
        // Rows: 31 softmax rows; attention with 2 x 16 rows; tiled attention with 30 row blocks.
        let mut b = GraphBuilder::new();
        let x = input(&mut b, &[31, 7], 7);
        let y = b.op("softmax", Op::Softmax, &[x]).expect("softmax");
        b.output(y);
        let q = input(&mut b, &[1, 2, 16, 3], 8);
        let k = input(&mut b, &[1, 2, 5, 3], 9);
        let v = input(&mut b, &[1, 2, 5, 3], 10);
        let attn = Op::Attention {
            causal: false,
            scale: 0.5,
            kernel: AttentionKernel::Materialized,
        };
        let o = b.op("attention", attn, &[q, k, v]).expect("attention");
        b.output(o);
        // Tiled attention: 3 heads x 10 blocks of 16 query rows = 30 workgroups.
        let q = input(&mut b, &[1, 3, 150, 5], 11);
        let k = input(&mut b, &[1, 3, 150, 5], 12);
        let v = input(&mut b, &[1, 3, 150, 5], 13);
        let tiled = Op::Attention {
            causal: true,
            scale: 0.4,
            kernel: AttentionKernel::Tiled,
        };
        let o = b.op("tiled", tiled, &[q, k, v]).expect("tiled attention");
        b.output(o);
        check_folded(&gpu, &b.build().expect("graph"), "rows");
    }

    #[test]
    fn folded_direct_convolution_agrees_with_the_cpu() {
        let gpu =
            Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)");
        // 2 images x 3 blocks of 16 output channels x 3 x 3 tiles of 8 x 8 = 54 workgroups.
        let mut b = GraphBuilder::new();
        let x = input(&mut b, &[2, 3, 20, 20], 11);
        let w = b.weight("w", &[33, 3, 3, 3], 12, 0.5);
        let bias = b.weight("bias", &[33], 13, 0.5);
        let attrs = crate::graph::Conv2dAttrs {
            padding: [1, 1],
            method: crate::graph::ConvMethod::Direct,
            ..Default::default()
        };
        let y = b
            .op("conv", Op::Conv2d(attrs), &[x, w, bias])
            .expect("conv");
        b.output(y);
        check_folded(&gpu, &b.build().expect("graph"), "direct conv");
    }
}

mod gemm_ld {
    //! The GEMM params' leading dimensions and base offsets on the device: graphs only produce dense
    //! operands (lda = K, offsets 0), so here each GEMM entry point runs on sub-matrices of padded
    //! buffers (lda > K, ldb > N, ldc > N, nonzero a/b/c offsets), as a GEMM split over several
    //! bindings uses them, and is compared with f64 loops. Elements of C between the rows and past
    //! the offset must keep their sentinel.

    use super::super::cx::{block as params_block, fold_grid};
    use super::super::{Region, Step};
    use crate::runtime::dispatch::{ParamsBuffer, Pipelines, bind_step, read_ranges, submit_steps};
    use crate::runtime::shaders::{GemmParams, Kernel};
    use crate::runtime::{GemmKernel, Gpu};
    use std::sync::Arc;

    const SENTINEL: f32 = 7777.0;

    /// One strided GEMM: shape, leading dimensions and element offsets.
    #[derive(Clone, Copy, Debug)]
    struct Case {
        m: usize,
        k: usize,
        n: usize,
        ld: [usize; 3],
        off: [usize; 3],
    }

    impl Case {
        /// Elements of a, b and c the case addresses.
        fn lens(&self) -> [usize; 3] {
            let Case { m, k, n, ld, off } = *self;
            [
                off[0] + (m - 1) * ld[0] + k,
                off[1] + (k - 1) * ld[1] + n,
                off[2] + (m - 1) * ld[2] + n,
            ]
        }

        fn params(&self, block: [u32; 2]) -> GemmParams {
            let w = |x: usize| u32::try_from(x).expect("small");
            let (tiles_m, tiles_n) = (
                self.m.div_ceil(block[0] as usize),
                self.n.div_ceil(block[1] as usize),
            );
            GemmParams {
                m: w(self.m),
                n: w(self.n),
                k: w(self.k),
                batch: 1,
                col_group: w(self.n),
                group_stride: w(self.m * self.ld[2]),
                c_offset: w(self.off[2]),
                tiles_n: w(tiles_n),
                tiles_m: w(tiles_m),
                tiles: w(tiles_n * tiles_m),
                lda: w(self.ld[0]),
                ldb: w(self.ld[1]),
                ldc: w(self.ld[2]),
                a_offset: w(self.off[0]),
                b_offset: w(self.off[1]),
                ..GemmParams::default()
            }
        }
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7 + seed * 13) % 23) as f32 / 11.0 - 1.0)
            .collect()
    }

    /// Runs `kernel` on `case` and returns c as read back.
    fn run(
        gpu: &Gpu,
        kernel: Kernel,
        block: [u32; 2],
        case: Case,
        a: &[f32],
        b: &[f32],
    ) -> Vec<f32> {
        let align = gpu.min_storage_buffer_offset_alignment().max(16);
        let bytes = |v: usize| (v as u64 * 4).next_multiple_of(align);
        let lens = case.lens();
        let starts = [0, bytes(lens[0]), bytes(lens[0]) + bytes(lens[1])];
        let total = starts[2] + bytes(lens[2]);
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("gemm ld test"),
            size: total,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let c0 = vec![SENTINEL; lens[2]];
        for (start, data) in starts.iter().zip([a, b, &c0]) {
            gpu.queue()
                .write_buffer(&buffer, *start, bytemuck::cast_slice(data));
        }
        let region = |i: usize| Region {
            buffer: 0,
            offset: starts[i],
            size: bytes(lens[i]),
        };
        let params = case.params(block);
        let step = Step {
            node: Arc::from("gemm"),
            kernel,
            storage: crate::runtime::shaders::FloatStorage::F32,
            bindings: vec![region(0), region(1), region(2), region(2)],
            params: params_block(&params),
            groups: fold_grid(u64::from(params.tiles), 65535).expect("grid"),
        };
        let steps = [step];
        let params = ParamsBuffer::new(gpu, steps.iter()).expect("params");
        let mut kernels = Pipelines::default();
        let bound =
            bind_step(gpu.device(), &mut kernels, &params, 0, &steps[0], &buffer).expect("bind");
        submit_steps(gpu, &kernels.pipelines, [bound].iter()).expect("run");
        let encoder = gpu
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let out =
            read_ranges(gpu, encoder, &[(&buffer, starts[2], lens[2] as u64 * 4)]).expect("read");
        bytemuck::cast_slice(&out[0]).to_vec()
    }

    #[test]
    fn leading_dimensions_and_offsets_address_sub_matrices() {
        let gpu =
            Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)");
        // Unaligned (tiled and scalar register entries), then vec4-aligned (all three).
        let cases = [
            Case {
                m: 37,
                k: 19,
                n: 70,
                ld: [23, 75, 73],
                off: [5, 3, 9],
            },
            Case {
                m: 70,
                k: 36,
                n: 44,
                ld: [40, 52, 49],
                off: [8, 12, 3],
            },
        ];
        for (i, case) in cases.into_iter().enumerate() {
            let lens = case.lens();
            let (a, b) = (values(lens[0], 1), values(lens[1], 2));
            let mut entries = vec![
                GemmKernel::Tiled.entry(false),
                GemmKernel::Register.entry(false),
            ];
            if i == 1 {
                entries.push(GemmKernel::Register.entry(true));
            }
            for (kernel, block) in entries {
                let c = run(&gpu, kernel, block, case, &a, &b);
                let mut want = vec![SENTINEL; lens[2]];
                for r in 0..case.m {
                    for j in 0..case.n {
                        let mut acc = 0.0f64;
                        for p in 0..case.k {
                            let av = a[case.off[0] + r * case.ld[0] + p];
                            let bv = b[case.off[1] + p * case.ld[1] + j];
                            acc += f64::from(av) * f64::from(bv);
                        }
                        want[case.off[2] + r * case.ld[2] + j] = acc as f32;
                    }
                }
                for (e, (g, w)) in c.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                        "{kernel:?} {case:?}: c[{e}] = {g}, want {w}"
                    );
                }
            }
        }
    }
}

mod variant {
    //! The kernel variants on the device (lavapipe in CI): the subgroup and the workgroup-memory
    //! reductions of row softmax and layer normalisation, and the vec4 and scalar elementwise
    //! kernels, each checked against the CPU reference on sizes that are not multiples of 4 or of
    //! the workgroup, with and without in-place nodes. Each check also lowers the graph with the
    //! same options and returns the kernels its steps use, so a test can assert which variant ran.

    use super::super::Lowerer;
    use crate::graph::{BinaryOp, DType, Graph, GraphBuilder, Init, NodeId, Op, TensorId, UnaryOp};
    use crate::layout::{MemoryLayout, naive_layout};
    use crate::runtime::shaders::Kernel;
    use crate::runtime::{Gpu, KernelOptions, compile_with};
    use std::sync::OnceLock;

    fn gpu() -> &'static Gpu {
        static GPU: OnceLock<Gpu> = OnceLock::new();
        GPU.get_or_init(|| {
            Gpu::new().expect("GPU tests need a wgpu adapter (scripts/test installs lavapipe)")
        })
    }

    /// The device's best variants (subgroups: lavapipe has them) and the plain ones.
    fn both_variants() -> [KernelOptions; 2] {
        let best = KernelOptions::for_gpu(gpu());
        assert!(
            best.subgroups,
            "the test device ({}) offers no wgpu::Features::SUBGROUP (lavapipe does); \
         is TESSERA_NO_SUBGROUPS set?",
            gpu().summary().name
        );
        [best, KernelOptions::scalar(best.gemm)]
    }

    /// `layout` with the outputs of `nodes` moved onto their first inputs (run in place).
    fn in_place(graph: &Graph, mut layout: MemoryLayout, nodes: &[NodeId]) -> MemoryLayout {
        for &n in nodes {
            let node = graph.node(n);
            layout.tensor_offsets[node.outputs[0].index()] =
                layout.tensor_offsets[node.inputs[0].index()];
            assert!(layout.is_in_place(graph, n));
        }
        layout
    }

    /// Runs `graph` at `layout` with `opts`, compares every output with the CPU reference
    /// (max abs error <= 1e-4 * max(1, max |ref|)) and returns the kernels of its steps.
    fn check(graph: &Graph, layout: &MemoryLayout, opts: KernelOptions, what: &str) -> Vec<Kernel> {
        let gpu = gpu();
        let compiled = compile_with(gpu, graph, layout, opts)
            .unwrap_or_else(|e| panic!("{what}: compile failed: {e}"));
        let got = compiled
            .run(gpu)
            .unwrap_or_else(|e| panic!("{what}: run failed: {e}"));
        let want = crate::cpu::run_outputs(graph).expect("CPU reference");
        for (i, (g, w)) in got.outputs.iter().zip(&want).enumerate() {
            let (g, w) = (g.to_f32(), w.as_f32().expect("f32 output"));
            assert_eq!(g.len(), w.len(), "{what}: output {i} length");
            let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (k, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{what}: output {i} element {k}: gpu {a}, cpu {b}"
                );
            }
        }
        let lowerer = Lowerer::new(graph, layout, gpu, opts);
        let steps = graph
            .node_ids()
            .flat_map(|id| lowerer.lower(id).expect("lower"));
        steps.map(|s| s.kernel).collect()
    }

    fn input(b: &mut GraphBuilder, name: &str, dims: &[usize], seed: u64) -> TensorId {
        let init = Init::Uniform { seed, scale: 3.0 };
        b.input(name, dims, DType::F32, init)
    }

    /// Softmax (node 0) and layer normalisation (node 1) of `rows` rows of `cols`.
    fn norm_graph(rows: usize, cols: usize) -> Graph {
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "x", &[rows, cols], 1);
        let s = b.op("softmax", Op::Softmax, &[x]).expect("softmax");
        b.output(s);
        let x2 = input(&mut b, "x2", &[rows, cols], 2);
        let gamma = b.weight("gamma", &[cols], 3, 1.0);
        let beta = b.weight("beta", &[cols], 4, 1.0);
        let ln = Op::LayerNorm { eps: 1e-5 };
        let y = b
            .op("layernorm", ln, &[x2, gamma, beta])
            .expect("layernorm");
        b.output(y);
        b.build().expect("graph")
    }

    #[test]
    fn softmax_and_layernorm_reduce_right_with_and_without_subgroups() {
        let sg = [
            Kernel::SoftmaxSg,
            Kernel::SoftmaxSgInPlace,
            Kernel::LayerNormSg,
            Kernel::LayerNormSgInPlace,
        ];
        let sg4 = [
            Kernel::SoftmaxSg4,
            Kernel::SoftmaxSg4InPlace,
            Kernel::LayerNormSg4,
            Kernel::LayerNormSg4InPlace,
        ];
        // Rows of 4 and 1000 are whole vec4s (the vec4 subgroup kernels), the others not.
        for cols in [1, 3, 4, 255, 257, 1000, 4099] {
            for rows in [1, 3, 67] {
                let g = norm_graph(rows, cols);
                let naive = naive_layout(&g, gpu().min_storage_buffer_offset_alignment())
                    .expect("naive layout");
                let inplace = in_place(&g, naive.clone(), &[NodeId(0), NodeId(1)]);
                for opts in both_variants() {
                    for (layout, how) in [(&naive, "naive"), (&inplace, "in place")] {
                        let what = format!("{rows} x {cols}, {how}, subgroups {}", opts.subgroups);
                        let kernels = check(&g, layout, opts, &what);
                        let count =
                            |set: &[Kernel]| kernels.iter().filter(|k| set.contains(k)).count();
                        let (want_sg, want_sg4) = match (opts.subgroups, cols % 4 == 0) {
                            (false, _) => (0, 0),
                            (true, false) => (kernels.len(), 0),
                            (true, true) => (0, kernels.len()),
                        };
                        assert_eq!(count(&sg), want_sg, "{what}: {kernels:?}");
                        assert_eq!(count(&sg4), want_sg4, "{what}: {kernels:?}");
                    }
                }
            }
        }
    }

    /// An elementwise case: output dims, b's dims (`None`: a unary op), vec4 kernels expected.
    type Case = (&'static [usize], Option<&'static [usize]>, bool);

    /// The elementwise cases.
    const CASES: &[Case] = &[
        // Unary (relu, gelu, scale, relu): 1 and 3 elements are too short for a vec4; 1027 runs
        // a vec4 head and a scalar tail of 3 (scaled by -1.5, so a skipped tail shows).
        (&[4], None, true),
        (&[3], None, false),
        (&[1027], None, true),
        (&[1], None, false),
        // Binary, both full, a count that is not a multiple of 4 or of the workgroup.
        (&[7, 1027], Some(&[7, 1027]), true),
        // A row broadcast (VEC_ROW) and a value per row (VEC_SPLAT).
        (&[5, 260], Some(&[260]), true),
        (&[5, 4, 8], Some(&[5, 4, 1]), true),
        // Splat from an operand that is not a whole number of vec4s, a last axis not a multiple
        // of 4, one broadcast value: the scalar kernel.
        (&[5, 6, 8], Some(&[5, 6, 1]), false),
        (&[3, 5], Some(&[5]), false),
        (&[9], Some(&[1]), false),
    ];

    /// One node per case of [`CASES`] (a unary op cycles relu, gelu, scale; a binary op add, sub,
    /// mul), each on its own inputs so any of them can run in place.
    fn elementwise_graph(case: usize) -> Graph {
        let (out, other, _) = CASES[case];
        let mut b = GraphBuilder::new();
        let x = input(&mut b, "a", out, case as u64 + 10);
        let op = match other {
            None => Op::Unary([UnaryOp::Relu, UnaryOp::Gelu, UnaryOp::Scale(-1.5)][case % 3]),
            Some(_) => Op::Binary([BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul][case % 3]),
        };
        let mut inputs = vec![x];
        if let Some(dims) = other {
            inputs.push(input(&mut b, "b", dims, case as u64 + 20));
        }
        let y = b.op("y", op, &inputs).expect("elementwise op");
        b.output(y);
        b.build().expect("graph")
    }

    #[test]
    fn elementwise_vec4_and_scalar_kernels_agree_with_the_cpu() {
        let quad = [
            Kernel::Binary4,
            Kernel::Binary4InPlace,
            Kernel::Unary4,
            Kernel::Unary4InPlace,
        ];
        for (case, &(out, other, vec4)) in CASES.iter().enumerate() {
            let g = elementwise_graph(case);
            let naive = naive_layout(&g, gpu().min_storage_buffer_offset_alignment())
                .expect("naive layout");
            let inplace = in_place(&g, naive.clone(), &[NodeId(0)]);
            for opts in both_variants() {
                for (layout, how) in [(&naive, "naive"), (&inplace, "in place")] {
                    let what = format!("{out:?} with {other:?}, {how}, vec4 {}", opts.vec4);
                    let kernels = check(&g, layout, opts, &what);
                    let used = kernels.iter().any(|k| quad.contains(k));
                    assert_eq!(used, vec4 && opts.vec4, "{what}: {kernels:?}");
                    // A count that is not a multiple of 4 adds a scalar step for its tail.
                    let n: usize = out.iter().product();
                    let tail = used && !n.is_multiple_of(4);
                    assert_eq!(kernels.len(), 1 + usize::from(tail), "{what}: {kernels:?}");
                }
            }
        }
    }
}
