// norm_subgroup.wgsl: the row softmax and layer normalisation of norm.wgsl (same params, same
// bindings, same one-workgroup-per-row grid) with subgroup reductions: each subgroup reduces
// its lanes with subgroupMax / subgroupAdd, one value per subgroup goes through workgroup
// memory, and every subgroup reduces those again. Two barriers per reduction instead of the
// tree's log2(NORM_SG_THREADS) + 2 (on lavapipe every barrier is a coroutine switch of each of
// the workgroup's subgroups).
//
// Used only on devices created with wgpu::Features::SUBGROUP (a module using subgroup
// built-ins cannot be created elsewhere, hence its own file). naga 30 rejects the
// `enable subgroups;` directive as unimplemented and accepts the built-ins without it.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   softmax_sg:            1 = x, 2 = out
//   softmax_sg_inplace:    1 = x (overwritten with the result)
//   layernorm_sg:          1 = x, 2 = gamma, 3 = beta, 4 = out
//   layernorm_sg_inplace:  1 = x (overwritten with the result), 2 = gamma, 3 = beta
// The `*4` entry points (softmax_sg4, softmax_sg4_inplace, layernorm_sg4,
// layernorm_sg4_inplace; same bindings) read and write the row as vec4s, for rows whose length
// is a multiple of 4 (every binding then starts and ends on a whole vec4). An entry point may
// not use two variables of one binding, so they touch only the vec4 views.

// Invocations per row (one workgroup).
const NORM_SG_THREADS: u32 = 64u;
// NORM_SG_THREADS over the smallest subgroup size wgpu allows (4).
const MAX_SUBGROUPS: u32 = 16u;
const LOWEST_F32: f32 = -3.402823e38;

struct Params {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;
@group(0) @binding(4) var<storage, read_write> arg4: array<f32>;
@group(0) @binding(1) var<storage, read_write> arg1v: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> arg2v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> arg3v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> arg4v: array<vec4<f32>>;

// One partial per subgroup.
var<workgroup> partials: array<f32, MAX_SUBGROUPS>;

// Where an invocation sits: its subgroup, its lane in it, the subgroup size and count.
struct Lane {
    sg: u32,
    lane: u32,
    size: u32,
    count: u32,
}

fn reduce_max(v: f32, l: Lane) -> f32 {
    let s = subgroupMax(v);
    if (l.lane == 0u) { partials[l.sg] = s; }
    workgroupBarrier();
    var t = LOWEST_F32;
    for (var i = l.lane; i < l.count; i = i + l.size) { t = max(t, partials[i]); }
    let r = subgroupMax(t);
    workgroupBarrier();
    return r;
}

fn reduce_sum(v: f32, l: Lane) -> f32 {
    let s = subgroupAdd(v);
    if (l.lane == 0u) { partials[l.sg] = s; }
    workgroupBarrier();
    var t = 0.0;
    for (var i = l.lane; i < l.count; i = i + l.size) { t = t + partials[i]; }
    let r = subgroupAdd(t);
    workgroupBarrier();
    return r;
}

// (max, 1 / sum of exp(x - max)) of the row starting at `base`.
fn softmax_stats(base: u32, lid: u32, l: Lane) -> vec2<f32> {
    var m = LOWEST_F32;
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) { m = max(m, ld_arg1(base + j)); }
    m = reduce_max(m, l);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) { s = s + exp(ld_arg1(base + j) - m); }
    return vec2<f32>(m, 1.0 / reduce_sum(s, l));
}

// (mean, 1 / sqrt(variance + eps)) of the row starting at `base` (two passes, as norm.wgsl).
fn layernorm_stats(base: u32, lid: u32, l: Lane) -> vec2<f32> {
    let n = f32(p.cols);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) { s = s + ld_arg1(base + j); }
    let mean = reduce_sum(s, l) / n;
    var q = 0.0;
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) {
        let d = ld_arg1(base + j) - mean;
        q = q + d * d;
    }
    return vec2<f32>(mean, inverseSqrt(reduce_sum(q, l) / n + p.eps));
}

fn row_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
}

@compute @workgroup_size(NORM_SG_THREADS)
fn softmax_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
              @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32,
              @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let st = softmax_stats(base, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) {
        st_arg2(base + j, exp(ld_arg1(base + j) - st.x) * st.y);
    }
}

@compute @workgroup_size(NORM_SG_THREADS)
fn softmax_sg_inplace(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
                      @builtin(subgroup_invocation_id) lane: u32,
                      @builtin(subgroup_size) size: u32, @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let st = softmax_stats(base, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) {
        st_arg1(base + j, exp(ld_arg1(base + j) - st.x) * st.y);
    }
}

@compute @workgroup_size(NORM_SG_THREADS)
fn layernorm_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
                @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32,
                @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let st = layernorm_stats(base, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) {
        st_arg4(base + j, (ld_arg1(base + j) - st.x) * st.y * ld_arg2(j) + ld_arg3(j));
    }
}

@compute @workgroup_size(NORM_SG_THREADS)
fn layernorm_sg_inplace(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
                        @builtin(subgroup_invocation_id) lane: u32,
                        @builtin(subgroup_size) size: u32, @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let st = layernorm_stats(base, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < p.cols; j = j + NORM_SG_THREADS) {
        st_arg1(base + j, (ld_arg1(base + j) - st.x) * st.y * ld_arg2(j) + ld_arg3(j));
    }
}

// softmax_stats over the n4 vec4s of the row starting at vec4 base4.
fn softmax_stats4(base4: u32, n4: u32, lid: u32, l: Lane) -> vec2<f32> {
    var m = LOWEST_F32;
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        let v = ld_arg1v(base4 + j);
        m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
    }
    m = reduce_max(m, l);
    var s = 0.0;
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        s = s + dot(exp(ld_arg1v(base4 + j) - vec4<f32>(m)), vec4<f32>(1.0));
    }
    return vec2<f32>(m, 1.0 / reduce_sum(s, l));
}

// layernorm_stats over the n4 vec4s of the row starting at vec4 base4.
fn layernorm_stats4(base4: u32, n4: u32, lid: u32, l: Lane) -> vec2<f32> {
    let n = f32(p.cols);
    var s = 0.0;
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        s = s + dot(ld_arg1v(base4 + j), vec4<f32>(1.0));
    }
    let mean = reduce_sum(s, l) / n;
    var q = 0.0;
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        let d = ld_arg1v(base4 + j) - vec4<f32>(mean);
        q = q + dot(d, d);
    }
    return vec2<f32>(mean, inverseSqrt(reduce_sum(q, l) / n + p.eps));
}

@compute @workgroup_size(NORM_SG_THREADS)
fn softmax_sg4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
               @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32,
               @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let n4 = p.cols / 4u;
    let base4 = row * n4;
    let st = softmax_stats4(base4, n4, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        st_arg2v(base4 + j, exp(ld_arg1v(base4 + j) - vec4<f32>(st.x)) * st.y);
    }
}

@compute @workgroup_size(NORM_SG_THREADS)
fn softmax_sg4_inplace(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
                       @builtin(subgroup_invocation_id) lane: u32,
                       @builtin(subgroup_size) size: u32, @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let n4 = p.cols / 4u;
    let base4 = row * n4;
    let st = softmax_stats4(base4, n4, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        st_arg1v(base4 + j, exp(ld_arg1v(base4 + j) - vec4<f32>(st.x)) * st.y);
    }
}

@compute @workgroup_size(NORM_SG_THREADS)
fn layernorm_sg4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sg: u32,
                 @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) size: u32,
                 @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let n4 = p.cols / 4u;
    let base4 = row * n4;
    let st = layernorm_stats4(base4, n4, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        st_arg4v(base4 + j, (ld_arg1v(base4 + j) - vec4<f32>(st.x)) * st.y * ld_arg2v(j) + ld_arg3v(j));
    }
}

@compute @workgroup_size(NORM_SG_THREADS)
fn layernorm_sg4_inplace(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32,
                         @builtin(subgroup_id) sg: u32,
                         @builtin(subgroup_invocation_id) lane: u32,
                         @builtin(subgroup_size) size: u32, @builtin(num_subgroups) count: u32) {
    let row = row_of(wid, nwg);
    if (row >= p.rows) { return; }
    let n4 = p.cols / 4u;
    let base4 = row * n4;
    let st = layernorm_stats4(base4, n4, lid, Lane(sg, lane, size, count));
    for (var j = lid; j < n4; j = j + NORM_SG_THREADS) {
        st_arg1v(base4 + j, (ld_arg1v(base4 + j) - vec4<f32>(st.x)) * st.y * ld_arg2v(j) + ld_arg3v(j));
    }
}
