// backward.wgsl: the f32 kernels of training graphs (reduce.wgsl holds the sum down to a
// broadcast shape): the gradients of unary ops, softmax and layer norm, the slice of a concat's gradient, mean
// squared error and its gradient, and the SGD and momentum updates (in place on binding 1).
// Every sum runs in one invocation or one workgroup in a fixed order: deterministic.
// Indexing is folded-grid safe: i = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
// row kernels use one workgroup per row, row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform, TrainParams)
//   unary_backward:      1 = x, 2 = dy, 3 = dx
//   softmax_backward:    1 = y, 2 = dy, 3 = dx
//   layernorm_backward:  1 = x, 2 = gamma, 3 = dy, 4 = dx
//   slice:               1 = x, 2 = out
//   mse_loss:            1 = pred, 2 = target, 3 = loss [1] (one workgroup)
//   mse_loss_backward:   1 = pred, 2 = target, 3 = dloss [1], 4 = dpred
//   sgd_step:            1 = w (rewritten: w + factor * g, factor = -lr), 2 = g
//   momentum_accumulate: 1 = v (rewritten: g + factor * v, factor = momentum), 2 = g

const WORKGROUP_SIZE: u32 = 256u;
const UNARY_RELU: u32 = 0u;
const UNARY_GELU: u32 = 1u;

struct Params {
    total: u32,
    rows: u32,
    cols: u32,
    op: u32,
    eps: f32,
    factor: f32,
    inner_in: u32,
    inner_out: u32,
    offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;
@group(0) @binding(4) var<storage, read_write> arg4: array<f32>;

// tanh without overflow for large |u|.
fn stable_tanh(u: f32) -> f32 {
    let t = exp(-2.0 * abs(u));
    return sign(u) * (1.0 - t) / (1.0 + t);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let x = ld_arg1(i);
    let g = ld_arg2(i);
    switch p.op {
        case UNARY_RELU: { st_arg3(i, select(0.0, g, x > 0.0)); }
        case UNARY_GELU: {
            let c = 0.7978845608028654;
            let t = stable_tanh(c * (x + 0.044715 * x * x * x));
            let d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
            st_arg3(i, g * d);
        }
        default: { st_arg3(i, g * p.factor); }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { s = s + ld_arg1(base + j) * ld_arg2(base + j); }
    s = reduce_sum(s, lid);
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) {
        st_arg3(base + j, ld_arg1(base + j) * (ld_arg2(base + j) - s));
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn layernorm_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) {
        let g = ld_arg3(base + j) * ld_arg2(j);
        sg = sg + g;
        sgx = sgx + g * (ld_arg1(base + j) - mean) * inv;
    }
    let mg = reduce_sum(sg, lid) / n;
    let mgx = reduce_sum(sgx, lid) / n;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) {
        let xhat = (ld_arg1(base + j) - mean) * inv;
        st_arg4(base + j, inv * (ld_arg3(base + j) * ld_arg2(j) - mg - xhat * mgx));
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn slice(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let outer = i / p.inner_out;
    st_arg2(i, ld_arg1(outer * p.inner_in + p.offset + i % p.inner_out));
}

// One workgroup: each invocation sums a strided share, then a tree reduction.
@compute @workgroup_size(WORKGROUP_SIZE)
fn mse_loss(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var i = lid; i < p.total; i = i + WORKGROUP_SIZE) {
        let d = ld_arg1(i) - ld_arg2(i);
        s = s + d * d;
    }
    s = reduce_sum(s, lid);
    if (lid == 0u) { st_arg3(0, s / f32(p.total)); }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn mse_loss_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let f = 2.0 * ld_arg3(0) / f32(p.total);
    st_arg4(i, f * (ld_arg1(i) - ld_arg2(i)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    st_arg1(i, ld_arg1(i) + p.factor * ld_arg2(i));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn momentum_accumulate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    st_arg1(i, ld_arg2(i) + p.factor * ld_arg1(i));
}
