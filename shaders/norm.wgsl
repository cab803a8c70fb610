// norm.wgsl: row-wise softmax and layer normalisation over the last axis, with in-place
// variants. One workgroup per row (2-D dispatch when rows exceed the per-dimension limit);
// the threads stride over the row and reduce through workgroup memory.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   softmax:            1 = x, 2 = out
//   softmax_inplace:    1 = x (overwritten with the result)
//   layernorm:          1 = x, 2 = gamma, 3 = beta, 4 = out
//   layernorm_inplace:  1 = x (overwritten with the result), 2 = gamma, 3 = beta

const WORKGROUP_SIZE: u32 = 256u;
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

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var m = LOWEST_F32;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { m = max(m, ld_arg1(base + j)); }
    m = reduce_max(m, lid);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { s = s + exp(ld_arg1(base + j) - m); }
    s = reduce_sum(s, lid);
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { st_arg2(base + j, exp(ld_arg1(base + j) - m) / s); }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var m = LOWEST_F32;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { m = max(m, ld_arg1(base + j)); }
    m = reduce_max(m, lid);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { s = s + exp(ld_arg1(base + j) - m); }
    s = reduce_sum(s, lid);
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { st_arg1(base + j, exp(ld_arg1(base + j) - m) / s); }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn layernorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let n = f32(p.cols);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { s = s + ld_arg1(base + j); }
    let mean = reduce_sum(s, lid) / n;
    var q = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { let d = ld_arg1(base + j) - mean; q = q + d * d; }
    let inv = inverseSqrt(reduce_sum(q, lid) / n + p.eps);
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) {
        st_arg4(base + j, (ld_arg1(base + j) - mean) * inv * ld_arg2(j) + ld_arg3(j));
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn layernorm_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    let n = f32(p.cols);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { s = s + ld_arg1(base + j); }
    let mean = reduce_sum(s, lid) / n;
    var q = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { let d = ld_arg1(base + j) - mean; q = q + d * d; }
    let inv = inverseSqrt(reduce_sum(q, lid) / n + p.eps);
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) {
        st_arg1(base + j, (ld_arg1(base + j) - mean) * inv * ld_arg2(j) + ld_arg3(j));
    }
}
