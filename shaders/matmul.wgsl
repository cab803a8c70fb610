// matmul.wgsl: batched, tiled GEMM with optional transposes and bias.
//
// C[b] = op(A[b]) * op(B[b]) (+ bias), op = identity or transpose (flags in the params).
// Also the GEMM of convolution: with `col_group = OH*OW` and `group_stride = O*OH*OW` the
// result column j = n*P + p is written to NCHW position n*group_stride + row*P + p.
// One 16x16 workgroup computes one 16x16 tile of C, staging A and B tiles in workgroup memory.
// The tiles (tiles_n along n, tiles_m along m, then batch, n fastest) are numbered linearly and
// the dispatch folds that count into a 2-D or 3-D grid when it exceeds the per-dimension limit
// (65,535 on most devices): workgroup (x, y, z) of an (X, Y, Z) grid takes tile
// (z * Y + y) * X + x, and workgroups past `tiles` return at once.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   1: a     [batch][M, K] (or [K, M] when trans_a)
//   2: b     [batch][K, N] (or [N, K] when trans_b); b_batch_stride 0 shares one matrix
//   3: c     output
//   4: bias  [N] (bias_mode 1) or [M] (bias_mode 2); unread when bias_mode is 0
//
// Blocks of larger matrices (a tensor split over several bindings, see src/runtime/lower/
// matmul.rs): stored A rows are `lda` elements apart and start `a_offset` elements into binding
// 1, B likewise (`ldb`, `b_offset`), C rows `col_group` apart from `c_offset`; `accumulate` 1
// adds the product to what C holds (a later chunk of K). Packed: lda = K (M when trans_a),
// ldb = N (K when trans_b), offsets 0, accumulate 0.

const TILE: u32 = 16u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
    c_batch_stride: u32,
    trans_a: u32,
    trans_b: u32,
    bias_mode: u32,
    col_group: u32,
    group_stride: u32,
    // Element offset added to every output index (convolution runs one tile per GEMM).
    c_offset: u32,
    tiles_n: u32,
    tiles_m: u32,
    tiles: u32,
    lda: u32,
    ldb: u32,
    a_offset: u32,
    b_offset: u32,
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

var<workgroup> tile_a: array<array<f32, TILE>, TILE>;
var<workgroup> tile_b: array<array<f32, TILE>, TILE>;

@compute @workgroup_size(TILE, TILE)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (tile >= p.tiles) { return; }
    let rest = tile / p.tiles_n;
    let batch = rest / p.tiles_m;
    let row = (rest % p.tiles_m) * TILE + lid.y;
    let col = (tile % p.tiles_n) * TILE + lid.x;
    let a_base = p.a_offset + batch * p.a_batch_stride;
    let b_base = p.b_offset + batch * p.b_batch_stride;
    var acc = 0.0;
    let tiles = (p.k + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t = t + 1u) {
        let ka = t * TILE + lid.x;
        var va = 0.0;
        if (row < p.m && ka < p.k) {
            let ia = select(row * p.lda + ka, ka * p.lda + row, p.trans_a != 0u);
            va = a[a_base + ia];
        }
        tile_a[lid.y][lid.x] = va;
        let kb = t * TILE + lid.y;
        var vb = 0.0;
        if (kb < p.k && col < p.n) {
            let ib = select(kb * p.ldb + col, col * p.ldb + kb, p.trans_b != 0u);
            vb = b[b_base + ib];
        }
        tile_b[lid.y][lid.x] = vb;
        workgroupBarrier();
        for (var kk = 0u; kk < TILE; kk = kk + 1u) {
            acc = acc + tile_a[lid.y][kk] * tile_b[kk][lid.x];
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        if (p.bias_mode == 1u) {
            acc = acc + bias[col];
        } else if (p.bias_mode == 2u) {
            acc = acc + bias[row];
        }
        let group = col / p.col_group;
        let within = col % p.col_group;
        let ic = p.c_offset + batch * p.c_batch_stride + group * p.group_stride + row * p.col_group + within;
        if (p.accumulate != 0u) {
            acc = acc + c[ic];
        }
        c[ic] = acc;
    }
}
