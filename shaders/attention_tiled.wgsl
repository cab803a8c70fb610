// attention_tiled.wgsl: flash-style scaled dot-product attention in one dispatch that never
// materialises the score matrix. One workgroup owns ATTN_ROWS query rows of one (batch, head)
// and streams the keys in tiles through workgroup memory with an online softmax:
// per query row a running max m, a running denominator l and an output accumulator that is
// rescaled by exp(m_old - m_new) whenever the max grows. With `causal`, tiles wholly above the
// diagonal of the block are skipped and keys past the query position inside a tile are masked.
// S and T need not be multiples of the tiles; head dims up to ATTN_MAX_D.
//
// Workgroup memory: a q tile of ATTN_ROWS x ATTN_MAX_D floats, k and v tiles of
// ATTN_KEYS x ATTN_MAX_D floats each, and an ATTN_ROWS x ATTN_MAX_KEYS score tile:
// (3 * 16 * 128 + 16 * 64) * 4 = 28,672 bytes, under the 32 KiB that lavapipe (and WebGPU's
// default limit) allows. A K/V tile holds ATTN_KEYS keys at the largest head dim and more at
// smaller ones: min(ATTN_MAX_KEYS, ATTN_KEYS * ATTN_MAX_D / D) keys (64 for D <= 32, 32 for
// D = 64, 16 for D = 128), so small heads need fewer tiles and barriers.
//
// Threads: ATTN_THREADS = (ATTN_ROWS / 2) x LANES. Thread (r, lane) serves the two query rows
// r and r + ATTN_ROWS / 2 (a register block: every k or v value it loads feeds both rows). In the
// score phase it computes both rows' scores of keys lane + u * LANES of the tile, two keys at a
// time (4 workgroup loads per 4 multiply-adds); in the update phase it owns output columns
// lane, lane + LANES, ... (at most PER_LANE of them) of both rows (cols + 2 loads per 2 x cols
// multiply-adds). Every thread of a row pair keeps its own identical copy of m and l per row.
// (The previous mapping, 256 threads with one row and d / 16 columns each, did 2 loads per
// multiply-add for the scores and 1.25 for the update.)
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   1 = q [BH, S, D], 2 = k [BH, T, D], 3 = v [BH, T, D], 4 = out [BH, S, D]

const ATTN_THREADS: u32 = 64u;
const ATTN_ROWS: u32 = 16u;
const HALF_ROWS: u32 = ATTN_ROWS / 2u;
const ATTN_KEYS: u32 = 16u;
const ATTN_MAX_KEYS: u32 = 64u;
const ATTN_MAX_D: u32 = 128u;
const LANES: u32 = ATTN_THREADS / HALF_ROWS;     // threads per pair of query rows
const PER_LANE: u32 = ATTN_MAX_D / LANES;       // output columns per thread
const LOWEST_F32: f32 = -3.402823e38;

struct Params {
    bh: u32,
    s: u32,
    t: u32,
    d: u32,
    causal: u32,
    scale: f32,
    blocks: u32,
    groups: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> q_tile: array<f32, ATTN_ROWS * ATTN_MAX_D>;   // row-major with stride D
var<workgroup> k_tile: array<f32, ATTN_KEYS * ATTN_MAX_D>;
var<workgroup> v_tile: array<f32, ATTN_KEYS * ATTN_MAX_D>;
var<workgroup> s_tile: array<f32, ATTN_ROWS * ATTN_MAX_KEYS>;   // scaled scores

// Copies keys t0 .. t0 + kt of head `head` into k_tile and v_tile (zeros past T).
fn load_kv(head: u32, t0: u32, kt: u32, lid: u32) {
    for (var i = lid; i < kt * p.d; i = i + ATTN_THREADS) {
        let key = t0 + i / p.d;
        var kx = 0.0;
        var vx = 0.0;
        if (key < p.t) {
            let at = (head * p.t + key) * p.d + i % p.d;
            kx = ld_k(at);
            vx = ld_v(at);
        }
        k_tile[i] = kx;
        v_tile[i] = vx;
    }
}

// Folds keys 0 .. n of the current tile into row `rr`'s running max, returning the new max.
fn tile_max(rr: u32, n: u32, m: f32) -> f32 {
    var m_new = m;
    for (var j = 0u; j < n; j = j + 1u) { m_new = max(m_new, s_tile[rr * ATTN_MAX_KEYS + j]); }
    return m_new;
}

// Scaled scores of rows r and r + HALF_ROWS against keys lane + u * LANES of the tile (kt keys;
// not always a multiple of 2 * LANES: a second key past the tile reads the last and is not
// written), two keys at a time, into s_tile.
fn scores(r: u32, lane: u32, kt: u32, d: u32) {
    let r2 = r + HALF_ROWS;
    for (var j = lane; j < kt; j = j + 2u * LANES) {
        let j2 = j + LANES;
        let jb = min(j2, kt - 1u);
        var s00 = 0.0;
        var s01 = 0.0;
        var s10 = 0.0;
        var s11 = 0.0;
        for (var c = 0u; c < d; c = c + 1u) {
            let qa = q_tile[r * d + c];
            let qb = q_tile[r2 * d + c];
            let ka = k_tile[j * d + c];
            let kb = k_tile[jb * d + c];
            s00 = s00 + qa * ka;
            s01 = s01 + qa * kb;
            s10 = s10 + qb * ka;
            s11 = s11 + qb * kb;
        }
        s_tile[r * ATTN_MAX_KEYS + j] = p.scale * s00;
        s_tile[r2 * ATTN_MAX_KEYS + j] = p.scale * s10;
        if (j2 < kt) {
            s_tile[r * ATTN_MAX_KEYS + j2] = p.scale * s01;
            s_tile[r2 * ATTN_MAX_KEYS + j2] = p.scale * s11;
        }
    }
}

@compute @workgroup_size(ATTN_THREADS)
fn attn_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (g >= p.groups) { return; }
    let head = g / p.blocks;
    let s0 = (g % p.blocks) * ATTN_ROWS;
    let d = p.d;
    for (var i = lid; i < ATTN_ROWS * d; i = i + ATTN_THREADS) {
        let qrow = s0 + i / d;
        var x = 0.0;
        if (qrow < p.s) { x = ld_q((head * p.s + qrow) * d + i % d); }
        q_tile[i] = x;
    }
    let r = lid / LANES;
    let r2 = r + HALF_ROWS;
    let lane = lid % LANES;
    let row_a = s0 + r;
    let row_b = s0 + r2;
    // Keys the block needs (uniform): with the causal mask none past its last row. Rows past S
    // see none.
    var keys = p.t;
    var vis_a = select(0u, p.t, row_a < p.s);
    var vis_b = select(0u, p.t, row_b < p.s);
    if (p.causal != 0u) {
        keys = min(min(s0 + ATTN_ROWS, p.s), p.t);
        vis_a = min(vis_a, row_a + 1u);
        vis_b = min(vis_b, row_b + 1u);
    }
    let kt = min(ATTN_MAX_KEYS, ATTN_KEYS * ATTN_MAX_D / d);   // keys per tile
    let tiles = (keys + kt - 1u) / kt;
    var m_a = LOWEST_F32;
    var m_b = LOWEST_F32;
    var l_a = 0.0;
    var l_b = 0.0;
    var acc_a: array<f32, PER_LANE>;
    var acc_b: array<f32, PER_LANE>;
    // Output columns lane + i * LANES < d that this thread owns: i < cols (at most PER_LANE).
    let cols = (d + LANES - 1u - min(lane, d)) / LANES;
    for (var tile = 0u; tile < tiles; tile = tile + 1u) {
        let t0 = tile * kt;
        workgroupBarrier();   // q staged; the previous tile's readers are done
        load_kv(head, t0, kt, lid);
        workgroupBarrier();
        scores(r, lane, kt, d);
        workgroupBarrier();
        // Keys of this tile each row may see: t0 .. t0 + n.
        let n_a = min(kt, vis_a - min(vis_a, t0));
        let n_b = min(kt, vis_b - min(vis_b, t0));
        let n = max(n_a, n_b);
        if (n > 0u) {
            let mn_a = tile_max(r, n_a, m_a);
            let mn_b = tile_max(r2, n_b, m_b);
            let alpha_a = exp(m_a - mn_a);
            let alpha_b = exp(m_b - mn_b);
            l_a = l_a * alpha_a;
            l_b = l_b * alpha_b;
            for (var i = 0u; i < cols; i = i + 1u) {
                acc_a[i] = acc_a[i] * alpha_a;
                acc_b[i] = acc_b[i] * alpha_b;
            }
            for (var j = 0u; j < n; j = j + 1u) {
                // Keys a row may not see weigh 0 (their exp is never used).
                let pa = select(0.0, exp(s_tile[r * ATTN_MAX_KEYS + j] - mn_a), j < n_a);
                let pb = select(0.0, exp(s_tile[r2 * ATTN_MAX_KEYS + j] - mn_b), j < n_b);
                l_a = l_a + pa;
                l_b = l_b + pb;
                for (var i = 0u; i < cols; i = i + 1u) {
                    let vx = v_tile[j * d + lane + i * LANES];
                    acc_a[i] = acc_a[i] + pa * vx;
                    acc_b[i] = acc_b[i] + pb * vx;
                }
            }
            m_a = mn_a;
            m_b = mn_b;
        }
    }
    for (var i = 0u; i < cols; i = i + 1u) {
        let c = lane + i * LANES;
        if (row_a < p.s) {
            st_out((head * p.s + row_a) * d + c, select(0.0, acc_a[i] / l_a, l_a > 0.0));
        }
        if (row_b < p.s) {
            st_out((head * p.s + row_b) * d + c, select(0.0, acc_b[i] / l_b, l_b > 0.0));
        }
    }
}
