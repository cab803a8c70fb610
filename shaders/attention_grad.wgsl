// attention_grad.wgsl: the attention backward without the [B, H, S, T] score matrix
// (flash-attention-2 style: probabilities are recomputed from q, k and each query row's stored
// log-sum-exp). One thread per row, accumulating its D-vector in private memory, no atomics:
//   attn_stats:   per query row i, lse_i (online over the visible keys) and delta_i = dy_i . o_i
//   attn_grad_q:  per query row i, one pass over its keys:   dq_i = scale sum_j ds_ij k_j
//   attn_grad_kv: per key row j, one pass over its queries: dk_j = scale sum_i ds_ij q_i
//                 (which = ATTN_GRAD_K) or dv_j = sum_i p_ij dy_i (which = ATTN_GRAD_V)
// with p_ij = exp(scale q_i.k_j - lse_i) and ds_ij = p_ij (dy_i.v_j - delta_i); with causal,
// query i sees keys j <= i.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   attn_stats:            1 = q, 2 = k, 3 = o, 4 = dy, 5 = stats [B, H, S, 2]
//   attn_grad_q, _kv:      1 = q, 2 = k, 3 = v, 4 = dy, 5 = stats, 6 = out

const WORKGROUP_SIZE: u32 = 256u;
const ATTN_MAX_D: u32 = 128u;
const LOWEST_F32: f32 = -3.402823e38;
const ATTN_GRAD_K: u32 = 1u;
const ATTN_GRAD_V: u32 = 2u;

struct Params {
    bh: u32,
    s: u32,
    t: u32,
    d: u32,
    causal: u32,
    scale: f32,
    which: u32,
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;
@group(0) @binding(4) var<storage, read_write> arg4: array<f32>;
@group(0) @binding(5) var<storage, read_write> arg5: array<f32>;
@group(0) @binding(6) var<storage, read_write> arg6: array<f32>;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
}

// Keys visible to query row qi.
fn visible(qi: u32) -> u32 {
    if (p.causal != 0u) { return min(qi + 1u, p.t); }
    return p.t;
}

// scale * q[qrow] . k[krow] (row indices over all batches and heads).
fn score(qrow: u32, krow: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < p.d; c = c + 1u) { acc = acc + arg1[qrow * p.d + c] * arg2[krow * p.d + c]; }
    return acc * p.scale;
}

// dy[qrow] . v[krow] (attn_grad_* bindings).
fn dy_dot_v(qrow: u32, krow: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < p.d; c = c + 1u) { acc = acc + arg4[qrow * p.d + c] * arg3[krow * p.d + c]; }
    return acc;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = linear_index(wid, nwg, lid);
    if (row >= p.rows) { return; }
    let kbase = (row / p.s) * p.t;
    let n = visible(row % p.s);
    var m = LOWEST_F32;
    var l = 0.0;
    for (var j = 0u; j < n; j = j + 1u) {
        let sc = score(row, kbase + j);
        if (sc > m) {
            l = l * exp(m - sc) + 1.0;
            m = sc;
        } else {
            l = l + exp(sc - m);
        }
    }
    var delta = 0.0;
    for (var c = 0u; c < p.d; c = c + 1u) { delta = delta + arg4[row * p.d + c] * arg3[row * p.d + c]; }
    arg5[row * 2u] = select(0.0, m + log(l), n > 0u);
    arg5[row * 2u + 1u] = delta;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_grad_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let row = linear_index(wid, nwg, lid);
    if (row >= p.rows) { return; }
    let kbase = (row / p.s) * p.t;
    let lse = arg5[row * 2u];
    let delta = arg5[row * 2u + 1u];
    var acc: array<f32, ATTN_MAX_D>;
    for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = 0.0; }
    let n = visible(row % p.s);
    for (var j = 0u; j < n; j = j + 1u) {
        let krow = kbase + j;
        let pr = exp(score(row, krow) - lse);
        let ds = pr * (dy_dot_v(row, krow) - delta);
        for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = acc[c] + ds * arg2[krow * p.d + c]; }
    }
    for (var c = 0u; c < p.d; c = c + 1u) { arg6[row * p.d + c] = acc[c] * p.scale; }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_grad_kv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let krow = linear_index(wid, nwg, lid);
    if (krow >= p.rows) { return; }
    let qbase = (krow / p.t) * p.s;
    let j = krow % p.t;
    var acc: array<f32, ATTN_MAX_D>;
    for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = 0.0; }
    var first = 0u;
    if (p.causal != 0u) { first = j; }
    for (var i = first; i < p.s; i = i + 1u) {
        let row = qbase + i;
        let pr = exp(score(row, krow) - arg5[row * 2u]);
        if (p.which == ATTN_GRAD_V) {
            for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = acc[c] + pr * arg4[row * p.d + c]; }
        } else {
            let ds = pr * (dy_dot_v(row, krow) - arg5[row * 2u + 1u]);
            for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = acc[c] + ds * arg1[row * p.d + c]; }
        }
    }
    let coef = select(p.scale, 1.0, p.which == ATTN_GRAD_V);
    for (var c = 0u; c < p.d; c = c + 1u) { arg6[krow * p.d + c] = acc[c] * coef; }
}
