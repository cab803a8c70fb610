// attention.wgsl: materialised scaled dot-product attention in three dispatches:
//   attn_scores:  scores[bh, s, t] = scale * q[bh, s, :] . k[bh, t, :]   (into the workspace)
//   attn_softmax: row softmax of the scores; with `causal`, keys t > s get probability 0
//   attn_pv:      out[bh, s, :] = sum_t scores[bh, s, t] * v[bh, t, :]
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md); all three
// entry points share one layout:
//   0: params (uniform)
//   1 = q [BH, S, D], 2 = k [BH, T, D], 3 = v [BH, T, D], 4 = out [BH, S, D],
//   5 = scores (workspace) [BH, S, T]

const WORKGROUP_SIZE: u32 = 256u;
const LOWEST_F32: f32 = -3.402823e38;

struct Params {
    bh: u32,
    s: u32,
    t: u32,
    d: u32,
    causal: u32,
    scale: f32,
    total: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

// Number of keys query row `s` may attend to.
fn valid_keys(s: u32) -> u32 {
    if (p.causal != 0u) { return min(s + 1u, p.t); }
    return p.t;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_scores(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.bh * p.s * p.t) { return; }
    let key = i % p.t;
    let row = i / p.t;          // bh * S + s
    let b = row / p.s;
    let qb = row * p.d;
    let kb = (b * p.t + key) * p.d;
    var acc = 0.0;
    for (var j = 0u; j < p.d; j = j + 1u) { acc = acc + ld_q(qb + j) * ld_k(kb + j); }
    st_scores(i, p.scale * acc);
}

fn reduce(v: f32, lid: u32, take_max: bool) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = WORKGROUP_SIZE / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            let o = scratch[lid + s];
            scratch[lid] = select(scratch[lid] + o, max(scratch[lid], o), take_max);
        }
        workgroupBarrier();
    }
    let r = scratch[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.bh * p.s) { return; }
    let base = row * p.t;
    let len = valid_keys(row % p.s);
    var m = LOWEST_F32;
    for (var j = lid; j < len; j = j + WORKGROUP_SIZE) { m = max(m, ld_scores(base + j)); }
    m = reduce(m, lid, true);
    var sum = 0.0;
    for (var j = lid; j < len; j = j + WORKGROUP_SIZE) { sum = sum + exp(ld_scores(base + j) - m); }
    sum = reduce(sum, lid, false);
    for (var j = lid; j < p.t; j = j + WORKGROUP_SIZE) {
        var pr = 0.0;
        if (j < len) { pr = exp(ld_scores(base + j) - m) / sum; }
        st_scores(base + j, pr);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_pv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let col = i % p.d;
    let row = i / p.d;          // bh * S + s
    let b = row / p.s;
    let len = valid_keys(row % p.s);
    var acc = 0.0;
    for (var j = 0u; j < len; j = j + 1u) {
        acc = acc + ld_scores(row * p.t + j) * ld_v((b * p.t + j) * p.d + col);
    }
    st_out(i, acc);
}
