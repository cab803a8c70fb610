// attention_grad.wgsl: the attention backward without the [B, H, S, T] score matrix
// (flash-attention-2 style: probabilities are recomputed from q, k and each query row's stored
// log-sum-exp). One thread per row, accumulating its D-vector in private memory, no atomics;
// the gradient kernels run blocks of ATTN_GRAD_ROWS rows of one head per workgroup and stream
// the other side's rows through workgroup memory in tiles of ATTN_GRAD_TILE:
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
const ATTN_GRAD_ROWS: u32 = 64u;
const ATTN_GRAD_TILE: u32 = 16u;

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

// Keys visible to query row qi.
fn visible(qi: u32) -> u32 {
    if (p.causal != 0u) { return min(qi + 1u, p.t); }
    return p.t;
}

// scale * q[qrow] . k[krow] (row indices over all batches and heads).
fn score(qrow: u32, krow: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < p.d; c = c + 1u) { acc = acc + ld_arg1(qrow * p.d + c) * ld_arg2(krow * p.d + c); }
    return acc * p.scale;
}

// dy[qrow] . v[krow] (attn_grad_* bindings).
fn dy_dot_v(qrow: u32, krow: u32) -> f32 {
    var acc = 0.0;
    for (var c = 0u; c < p.d; c = c + 1u) { acc = acc + ld_arg4(qrow * p.d + c) * ld_arg3(krow * p.d + c); }
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
    for (var c = 0u; c < p.d; c = c + 1u) { delta = delta + ld_arg4(row * p.d + c) * ld_arg3(row * p.d + c); }
    st_arg5(row * 2u, select(0.0, m + log(l), n > 0u));
    st_arg5(row * 2u + 1u, delta);
}

// Workgroup tiles of the gradient kernels: a block of ATTN_GRAD_ROWS rows of one (batch, head)
// per workgroup, one row per thread; the rows they all stream over (keys for d q, queries for
// d k and d v) pass through workgroup memory ATTN_GRAD_TILE at a time.
var<workgroup> tile_a: array<f32, ATTN_GRAD_TILE * ATTN_MAX_D>;
var<workgroup> tile_b: array<f32, ATTN_GRAD_TILE * ATTN_MAX_D>;
var<workgroup> tile_stats: array<f32, ATTN_GRAD_TILE * 2u>;

// (head, first row of the block) of workgroup `g` over `n` rows per head; head >= p.bh past
// the last block (a folded grid's padding).
fn grad_block(wid: vec3<u32>, nwg: vec3<u32>, n: u32) -> vec2<u32> {
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    let blocks = max((n + ATTN_GRAD_ROWS - 1u) / ATTN_GRAD_ROWS, 1u);
    return vec2<u32>(g / blocks, (g % blocks) * ATTN_GRAD_ROWS);
}

@compute @workgroup_size(ATTN_GRAD_ROWS)
fn attn_grad_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let block = grad_block(wid, nwg, p.s);
    if (block.x >= p.bh) { return; } // uniform over the workgroup
    let qi = block.y + lid;
    let live = qi < p.s;
    let row = block.x * p.s + min(qi, p.s - 1u);
    let kbase = block.x * p.t;
    var keys = p.t; // keys any row of the block sees
    if (p.causal != 0u) { keys = min(min(block.y + ATTN_GRAD_ROWS, p.s), p.t); }
    let n = select(0u, visible(qi), live);
    let lse = ld_arg5(row * 2u);
    let delta = ld_arg5(row * 2u + 1u);
    var qr: array<f32, ATTN_MAX_D>;
    var dyr: array<f32, ATTN_MAX_D>;
    var acc: array<f32, ATTN_MAX_D>;
    for (var c = 0u; c < p.d; c = c + 1u) {
        qr[c] = ld_arg1(row * p.d + c);
        dyr[c] = ld_arg4(row * p.d + c);
        acc[c] = 0.0;
    }
    for (var j0 = 0u; j0 < keys; j0 = j0 + ATTN_GRAD_TILE) {
        let count = min(ATTN_GRAD_TILE, keys - j0);
        for (var e = lid; e < count * p.d; e = e + ATTN_GRAD_ROWS) {
            tile_a[e] = ld_arg2((kbase + j0) * p.d + e);
            tile_b[e] = ld_arg3((kbase + j0) * p.d + e);
        }
        workgroupBarrier();
        for (var jj = 0u; jj < count; jj = jj + 1u) {
            if (j0 + jj >= n) { break; }
            var sc = 0.0;
            var dp = 0.0;
            for (var c = 0u; c < p.d; c = c + 1u) {
                sc = sc + qr[c] * tile_a[jj * p.d + c];
                dp = dp + dyr[c] * tile_b[jj * p.d + c];
            }
            let ds = exp(sc * p.scale - lse) * (dp - delta);
            for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = acc[c] + ds * tile_a[jj * p.d + c]; }
        }
        workgroupBarrier();
    }
    if (live) {
        for (var c = 0u; c < p.d; c = c + 1u) { st_arg6(row * p.d + c, acc[c] * p.scale); }
    }
}

@compute @workgroup_size(ATTN_GRAD_ROWS)
fn attn_grad_kv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let block = grad_block(wid, nwg, p.t);
    if (block.x >= p.bh) { return; } // uniform over the workgroup
    let j = block.y + lid;
    let live = j < p.t;
    let krow = block.x * p.t + min(j, p.t - 1u);
    let qbase = block.x * p.s;
    var first = 0u; // the first query any key of the block is seen by
    if (p.causal != 0u) { first = block.y; }
    var kr: array<f32, ATTN_MAX_D>;
    var vr: array<f32, ATTN_MAX_D>;
    var acc: array<f32, ATTN_MAX_D>;
    for (var c = 0u; c < p.d; c = c + 1u) {
        kr[c] = ld_arg2(krow * p.d + c);
        vr[c] = ld_arg3(krow * p.d + c);
        acc[c] = 0.0;
    }
    for (var i0 = first; i0 < p.s; i0 = i0 + ATTN_GRAD_TILE) {
        let count = min(ATTN_GRAD_TILE, p.s - i0);
        for (var e = lid; e < count * p.d; e = e + ATTN_GRAD_ROWS) {
            tile_a[e] = ld_arg1((qbase + i0) * p.d + e);
            tile_b[e] = ld_arg4((qbase + i0) * p.d + e);
        }
        for (var e = lid; e < count * 2u; e = e + ATTN_GRAD_ROWS) {
            tile_stats[e] = ld_arg5((qbase + i0) * 2u + e);
        }
        workgroupBarrier();
        for (var ii = 0u; ii < count; ii = ii + 1u) {
            // Query i0 + ii sees key j when j <= i (causal); inactive threads see nothing.
            if (!live || (p.causal != 0u && j > i0 + ii)) { continue; }
            var sc = 0.0;
            var dp = 0.0;
            for (var c = 0u; c < p.d; c = c + 1u) {
                sc = sc + tile_a[ii * p.d + c] * kr[c];
                dp = dp + tile_b[ii * p.d + c] * vr[c];
            }
            let pr = exp(sc * p.scale - tile_stats[ii * 2u]);
            if (p.which == ATTN_GRAD_V) {
                for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = acc[c] + pr * tile_b[ii * p.d + c]; }
            } else {
                let ds = pr * (dp - tile_stats[ii * 2u + 1u]);
                for (var c = 0u; c < p.d; c = c + 1u) { acc[c] = acc[c] + ds * tile_a[ii * p.d + c]; }
            }
        }
        workgroupBarrier();
    }
    if (live) {
        let coef = select(p.scale, 1.0, p.which == ATTN_GRAD_V);
        for (var c = 0u; c < p.d; c = c + 1u) { st_arg6(krow * p.d + c, acc[c] * coef); }
    }
}
