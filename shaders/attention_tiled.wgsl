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
// Threads: WORKGROUP_SIZE = ATTN_ROWS x LANES. Thread (r, lane) serves query row r: in the
// score phase it computes the scores of keys lane, lane + LANES, ... of the tile; in the update
// phase it owns output columns lane, lane + LANES, ... (at most PER_LANE of them). Every
// thread of a row keeps its own identical copy of m and l.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   1 = q [BH, S, D], 2 = k [BH, T, D], 3 = v [BH, T, D], 4 = out [BH, S, D]

const WORKGROUP_SIZE: u32 = 256u;
const ATTN_ROWS: u32 = 16u;
const ATTN_KEYS: u32 = 16u;
const ATTN_MAX_KEYS: u32 = 64u;
const ATTN_MAX_D: u32 = 128u;
const LANES: u32 = WORKGROUP_SIZE / ATTN_ROWS;   // threads per query row
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
    for (var i = lid; i < kt * p.d; i = i + WORKGROUP_SIZE) {
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

@compute @workgroup_size(WORKGROUP_SIZE)
fn attn_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (g >= p.groups) { return; }
    let head = g / p.blocks;
    let s0 = (g % p.blocks) * ATTN_ROWS;
    let d = p.d;
    for (var i = lid; i < ATTN_ROWS * d; i = i + WORKGROUP_SIZE) {
        let qrow = s0 + i / d;
        var x = 0.0;
        if (qrow < p.s) { x = ld_q((head * p.s + qrow) * d + i % d); }
        q_tile[i] = x;
    }
    let r = lid / LANES;
    let lane = lid % LANES;
    let row = s0 + r;
    // Keys the block needs (uniform): with the causal mask none past its last row.
    var keys = p.t;
    var visible = p.t;
    if (p.causal != 0u) {
        keys = min(min(s0 + ATTN_ROWS, p.s), p.t);
        visible = min(row + 1u, p.t);
    }
    let kt = min(ATTN_MAX_KEYS, ATTN_KEYS * ATTN_MAX_D / d);   // keys per tile
    let tiles = (keys + kt - 1u) / kt;
    var m = LOWEST_F32;
    var l = 0.0;
    var acc: array<f32, PER_LANE>;
    // Output columns lane + i * LANES < d that this thread owns: i < cols (at most PER_LANE).
    let cols = (d + LANES - 1u - min(lane, d)) / LANES;
    for (var tile = 0u; tile < tiles; tile = tile + 1u) {
        let t0 = tile * kt;
        workgroupBarrier();   // q staged; the previous tile's readers are done
        load_kv(head, t0, kt, lid);
        workgroupBarrier();
        for (var j = lane; j < kt; j = j + LANES) {
            var dot = 0.0;
            for (var c = 0u; c < d; c = c + 1u) {
                dot = dot + q_tile[r * d + c] * k_tile[j * d + c];
            }
            s_tile[r * ATTN_MAX_KEYS + j] = p.scale * dot;
        }
        workgroupBarrier();
        // Keys of this tile that row `row` may see: t0 .. t0 + n.
        let n = min(kt, visible - min(visible, t0));
        if (row < p.s && n > 0u) {
            var m_new = m;
            for (var j = 0u; j < n; j = j + 1u) { m_new = max(m_new, s_tile[r * ATTN_MAX_KEYS + j]); }
            let alpha = exp(m - m_new);
            l = l * alpha;
            for (var i = 0u; i < cols; i = i + 1u) { acc[i] = acc[i] * alpha; }
            for (var j = 0u; j < n; j = j + 1u) {
                let pj = exp(s_tile[r * ATTN_MAX_KEYS + j] - m_new);
                l = l + pj;
                for (var i = 0u; i < cols; i = i + 1u) {
                    acc[i] = acc[i] + pj * v_tile[j * d + lane + i * LANES];
                }
            }
            m = m_new;
        }
    }
    if (row >= p.s) { return; }
    for (var i = 0u; i < cols; i = i + 1u) {
        st_out((head * p.s + row) * d + lane + i * LANES, select(0.0, acc[i] / l, l > 0.0));
    }
}
