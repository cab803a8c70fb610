// matmul.wgsl: batched, register-blocked GEMM with optional transposes, leading dimensions,
// base offsets and bias. Three entry points over the same Params; the runtime picks the family
// per adapter (`GemmKernel::for_adapter`) and, in the register family, the vec4 entry where the
// operands allow it (`Gemm::vec4_ok`):
//
//   matmul       block tiles of BLOCK x BLOCK (64 x 64) staged in workgroup memory, BK (16)
//                deep; TILE x TILE invocations, each computing a TM x TM (4 x 4) block of C
//                from vec4 reads of the staged tiles. For GPUs with fast workgroup memory.
//   matmul_reg   no workgroup memory and no barrier: REG_TILE x REG_TILE invocations, each a
//                TM x TM block of C (rows and columns strided by REG_TILE) read straight from
//                storage. For CPU adapters (lavapipe runs every load as a loop over the SIMD
//                lanes and every barrier as a coroutine switch; its caches do the staging).
//   matmul_reg4  matmul_reg for untransposed operands aligned to vec4s: A and B read through
//                vec4 views of the same bindings, REG4_ROWS x 8 outputs per invocation.
//
// C[b] = op(A[b]) * op(B[b]) (+ bias), op = identity or transpose (flags in the params).
// Element (i, k) of op(A[b]) is a[a_offset + b*a_batch_stride + i*lda + k] (trans_a:
// a[.. + k*lda + i]); element (k, j) of op(B[b]) is b[b_offset + b*b_batch_stride + k*ldb + j]
// (trans_b: b[.. + j*ldb + k]). Transposes are index arithmetic, never a copy.
// Output column j goes to c[c_offset + b*c_batch_stride + (j / col_group)*group_stride +
// i*ldc + j % col_group]: a plain GEMM has col_group = n and ldc = n; convolution's GEMM uses
// col_group = ldc = OH*OW and group_stride = O*OH*OW to write NCHW directly. `accumulate` 1
// adds the product to what C already holds instead of overwriting it: a GEMM whose operands
// exceed one storage binding is split over several dispatches (src/runtime/lower/matmul.rs),
// each reading a block of the stored matrices through lda/ldb and the offsets, and the blocks
// of K after the first add to C (the bias goes in once, with the first).
// Output tiles (tiles_n along n, tiles_m along m, then batch, n fastest) are numbered linearly
// and the dispatch folds that count into a 2-D or 3-D grid past the per-dimension limit:
// workgroup (x, y, z) of an (X, Y, Z) grid takes tile (z * Y + y) * X + x, and workgroups past
// `tiles` return at once. Any M, N, K: loads outside the matrices read zero (matmul) or a
// clamped in-range element whose product is never stored (matmul_reg); stores are guarded.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   1: a
//   2: b     b_batch_stride 0 shares one matrix
//   3: c     output
//   4: bias  [N] (bias_mode 1) or [M] (bias_mode 2); unread when bias_mode is 0

// Invocations along each side of a `matmul` workgroup.
const TILE: u32 = 16u;
// Rows and columns of C per invocation (both kernels).
const TM: u32 = 4u;
// Depth of one staged K slice of `matmul`.
const BK: u32 = 16u;
// Invocations along each side of a `matmul_reg` workgroup.
const REG_TILE: u32 = 8u;
// Invocations along each side of a `matmul_reg4` workgroup, and rows each one computes.
const REG4_TILE: u32 = 8u;
const REG4_ROWS: u32 = 8u;

// Side of a `matmul` block tile of C, and vec4s across it.
const BLOCK: u32 = TILE * TM;
const BLOCK4: u32 = BLOCK / 4u;

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
    // Element offset added to every output index.
    c_offset: u32,
    tiles_n: u32,
    tiles_m: u32,
    tiles: u32,
    // Leading dimensions (elements between rows of the stored matrices) and base offsets.
    lda: u32,
    ldb: u32,
    ldc: u32,
    a_offset: u32,
    b_offset: u32,
    // 1: add the product to what C already holds (a later block of K, see lower/matmul.rs).
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;
// The same a and b bindings seen as vec4s, for `matmul_reg4` (only where the lowering found every
// row start and offset a multiple of 4 elements, so no element is lost to the vec4 view).
@group(0) @binding(1) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> b4: array<vec4<f32>>;

// `matmul`'s staged tiles: sa[kk * BLOCK4 + r / 4][r % 4] = op(A)(row0 + r, k0 + kk),
// sb[kk * BLOCK4 + j / 4][j % 4] = op(B)(k0 + kk, col0 + j).
var<workgroup> sa: array<vec4<f32>, BK * BLOCK4>;
var<workgroup> sb: array<vec4<f32>, BK * BLOCK4>;

// Where one output tile starts: (batch, first row, first column), for tile sides bm x bn.
struct Origin {
    batch: u32,
    row: u32,
    col: u32,
}

fn origin(tile: u32, bm: u32, bn: u32) -> Origin {
    let rest = tile / p.tiles_n;
    return Origin(rest / p.tiles_m, (rest % p.tiles_m) * bm, (tile % p.tiles_n) * bn);
}

// Strides of op(A) as (per row i, per k) and of op(B) as (per k, per column j).
fn a_strides() -> vec2<u32> {
    return select(vec2<u32>(p.lda, 1u), vec2<u32>(1u, p.lda), p.trans_a != 0u);
}

fn b_strides() -> vec2<u32> {
    return select(vec2<u32>(p.ldb, 1u), vec2<u32>(1u, p.ldb), p.trans_b != 0u);
}

// Adds the bias (and, with `accumulate`, what C holds) and writes C(row, col) of matrix `batch`
// (the caller checked the bounds).
fn store(batch: u32, row: u32, col: u32, value: f32) {
    var v = value;
    if (p.bias_mode == 1u) {
        v = v + ld_bias(col);
    } else if (p.bias_mode == 2u) {
        v = v + ld_bias(row);
    }
    let group = col / p.col_group;
    let within = col % p.col_group;
    let ic = p.c_offset + batch * p.c_batch_stride + group * p.group_stride + row * p.ldc + within;
    if (p.accumulate != 0u) {
        v = v + ld_c(ic);
    }
    st_c(ic, v);
}

// Stages op(A) rows [o.row, o.row + BLOCK) and op(B) columns [o.col, o.col + BLOCK) of the
// K slice [k0, k0 + BK), zero outside the matrices. Each invocation copies TM elements of each
// (BLOCK * BK = TILE * TILE * TM), walking along the stored rows so neighbours read neighbours.
fn stage(o: Origin, k0: u32, t: u32) {
    let astr = a_strides();
    let bstr = b_strides();
    let a_base = p.a_offset + o.batch * p.a_batch_stride;
    let b_base = p.b_offset + o.batch * p.b_batch_stride;
    for (var q = 0u; q < TM; q = q + 1u) {
        let e = t + q * TILE * TILE;
        // A stored row-major [M, K] walks k fastest; stored transposed [K, M] walks rows.
        let r = select(e / BK, e % BLOCK, p.trans_a != 0u);
        let ka = select(e % BK, e / BLOCK, p.trans_a != 0u);
        let gr = o.row + r;
        let gka = k0 + ka;
        var va = 0.0;
        if (gr < p.m && gka < p.k) {
            va = ld_a(a_base + gr * astr.x + gka * astr.y);
        }
        sa[ka * BLOCK4 + r / 4u][r % 4u] = va;
        // B stored [K, N] walks columns fastest; stored transposed [N, K] walks k.
        let j = select(e % BLOCK, e / BK, p.trans_b != 0u);
        let kb = select(e / BLOCK, e % BK, p.trans_b != 0u);
        let gc = o.col + j;
        let gkb = k0 + kb;
        var vb = 0.0;
        if (gc < p.n && gkb < p.k) {
            vb = ld_b(b_base + gkb * bstr.x + gc * bstr.y);
        }
        sb[kb * BLOCK4 + j / 4u][j % 4u] = vb;
    }
}

@compute @workgroup_size(TILE, TILE)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) t: u32) {
    let tile = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (tile >= p.tiles) { return; }
    let o = origin(tile, BLOCK, BLOCK);
    var acc = array<vec4<f32>, TM>();
    for (var k0 = 0u; k0 < p.k; k0 = k0 + BK) {
        stage(o, k0, t);
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            let av = sa[kk * BLOCK4 + lid.y];
            let bv = sb[kk * BLOCK4 + lid.x];
            acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
            acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
            acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
            acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
        }
        workgroupBarrier();
    }
    let row0 = o.row + lid.y * TM;
    let col0 = o.col + lid.x * TM;
    for (var i = 0u; i < TM; i = i + 1u) {
        for (var j = 0u; j < TM; j = j + 1u) {
            if (row0 + i < p.m && col0 + j < p.n) {
                store(o.batch, row0 + i, col0 + j, acc[i][j]);
            }
        }
    }
}

@compute @workgroup_size(REG_TILE, REG_TILE)
fn matmul_reg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (tile >= p.tiles) { return; }
    let o = origin(tile, REG_TILE * TM, REG_TILE * TM);
    let row0 = o.row + lid.y;
    let col0 = o.col + lid.x;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let astr = a_strides();
    let bstr = b_strides();
    // Rows and columns past the edge are clamped onto the last one: the loop stays branch-free
    // and their (valid) products are never stored.
    let r = min(vec4<u32>(row0) + vec4<u32>(0u, 1u, 2u, 3u) * REG_TILE, vec4<u32>(p.m - 1u));
    let cj = min(vec4<u32>(col0) + vec4<u32>(0u, 1u, 2u, 3u) * REG_TILE, vec4<u32>(p.n - 1u));
    let ia = vec4<u32>(p.a_offset + o.batch * p.a_batch_stride) + r * astr.x;
    let ib = vec4<u32>(p.b_offset + o.batch * p.b_batch_stride) + cj * bstr.y;
    var acc = array<vec4<f32>, TM>();
    var ka = 0u;
    var kb = 0u;
    for (var kk = 0u; kk < p.k; kk = kk + 1u) {
        let bv = vec4<f32>(ld_b(ib.x + kb), ld_b(ib.y + kb), ld_b(ib.z + kb), ld_b(ib.w + kb));
        acc[0] = fma(vec4<f32>(ld_a(ia.x + ka)), bv, acc[0]);
        acc[1] = fma(vec4<f32>(ld_a(ia.y + ka)), bv, acc[1]);
        acc[2] = fma(vec4<f32>(ld_a(ia.z + ka)), bv, acc[2]);
        acc[3] = fma(vec4<f32>(ld_a(ia.w + ka)), bv, acc[3]);
        ka = ka + astr.y;
        kb = kb + bstr.x;
    }
    for (var i = 0u; i < TM; i = i + 1u) {
        let row = row0 + i * REG_TILE;
        for (var j = 0u; j < TM; j = j + 1u) {
            let col = col0 + j * REG_TILE;
            if (row < p.m && col < p.n) {
                store(o.batch, row, col, acc[i][j]);
            }
        }
    }
}

// matmul_reg4: matmul_reg for untransposed operands whose K, N, lda, ldb and offsets are
// multiples of 4, reading A and B as vec4s: each invocation computes REG4_ROWS rows (strided by
// REG4_TILE) x 8 adjacent columns, four K steps per loop turn, from REG4_ROWS + 8 vec4 loads per
// 4 * REG4_ROWS * 8 multiply-adds (lavapipe runs every load as a loop over the SIMD lanes, so
// loads per FMA decide its speed).
@compute @workgroup_size(REG4_TILE, REG4_TILE)
fn matmul_reg4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (tile >= p.tiles) { return; }
    let o = origin(tile, REG4_TILE * REG4_ROWS, REG4_TILE * 8u);
    let row0 = o.row + lid.y;
    let col0 = o.col + lid.x * 8u;
    if (row0 >= p.m || col0 >= p.n) { return; }
    let lda4 = p.lda / 4u;
    let ldb4 = p.ldb / 4u;
    let abase = (p.a_offset + o.batch * p.a_batch_stride) / 4u;
    // Columns past the edge read the last vec4 (never stored).
    let last4 = p.n / 4u - 1u;
    let bv0 = (p.b_offset + o.batch * p.b_batch_stride) / 4u + min(col0 / 4u, last4);
    let bv1 = (p.b_offset + o.batch * p.b_batch_stride) / 4u + min(col0 / 4u + 1u, last4);
    // REG4_ROWS = 8 rows, unrolled: lavapipe keeps locally indexed arrays in memory.
    let ia0 = abase + min(row0 + 0u * REG4_TILE, p.m - 1u) * lda4;
    let ia1 = abase + min(row0 + 1u * REG4_TILE, p.m - 1u) * lda4;
    let ia2 = abase + min(row0 + 2u * REG4_TILE, p.m - 1u) * lda4;
    let ia3 = abase + min(row0 + 3u * REG4_TILE, p.m - 1u) * lda4;
    let ia4 = abase + min(row0 + 4u * REG4_TILE, p.m - 1u) * lda4;
    let ia5 = abase + min(row0 + 5u * REG4_TILE, p.m - 1u) * lda4;
    let ia6 = abase + min(row0 + 6u * REG4_TILE, p.m - 1u) * lda4;
    let ia7 = abase + min(row0 + 7u * REG4_TILE, p.m - 1u) * lda4;
    var lo0 = vec4<f32>();
    var hi0 = vec4<f32>();
    var lo1 = vec4<f32>();
    var hi1 = vec4<f32>();
    var lo2 = vec4<f32>();
    var hi2 = vec4<f32>();
    var lo3 = vec4<f32>();
    var hi3 = vec4<f32>();
    var lo4 = vec4<f32>();
    var hi4 = vec4<f32>();
    var lo5 = vec4<f32>();
    var hi5 = vec4<f32>();
    var lo6 = vec4<f32>();
    var hi6 = vec4<f32>();
    var lo7 = vec4<f32>();
    var hi7 = vec4<f32>();
    var kb = 0u;
    for (var k4 = 0u; k4 < p.k / 4u; k4 = k4 + 1u) {
        let b00 = ld_b4(bv0 + kb);
        let b01 = ld_b4(bv1 + kb);
        let b10 = ld_b4(bv0 + kb + ldb4);
        let b11 = ld_b4(bv1 + kb + ldb4);
        let b20 = ld_b4(bv0 + kb + 2u * ldb4);
        let b21 = ld_b4(bv1 + kb + 2u * ldb4);
        let b30 = ld_b4(bv0 + kb + 3u * ldb4);
        let b31 = ld_b4(bv1 + kb + 3u * ldb4);
        let av0 = ld_a4(ia0 + k4);
        lo0 = fma(vec4<f32>(av0.x), b00, lo0);
        hi0 = fma(vec4<f32>(av0.x), b01, hi0);
        lo0 = fma(vec4<f32>(av0.y), b10, lo0);
        hi0 = fma(vec4<f32>(av0.y), b11, hi0);
        lo0 = fma(vec4<f32>(av0.z), b20, lo0);
        hi0 = fma(vec4<f32>(av0.z), b21, hi0);
        lo0 = fma(vec4<f32>(av0.w), b30, lo0);
        hi0 = fma(vec4<f32>(av0.w), b31, hi0);
        let av1 = ld_a4(ia1 + k4);
        lo1 = fma(vec4<f32>(av1.x), b00, lo1);
        hi1 = fma(vec4<f32>(av1.x), b01, hi1);
        lo1 = fma(vec4<f32>(av1.y), b10, lo1);
        hi1 = fma(vec4<f32>(av1.y), b11, hi1);
        lo1 = fma(vec4<f32>(av1.z), b20, lo1);
        hi1 = fma(vec4<f32>(av1.z), b21, hi1);
        lo1 = fma(vec4<f32>(av1.w), b30, lo1);
        hi1 = fma(vec4<f32>(av1.w), b31, hi1);
        let av2 = ld_a4(ia2 + k4);
        lo2 = fma(vec4<f32>(av2.x), b00, lo2);
        hi2 = fma(vec4<f32>(av2.x), b01, hi2);
        lo2 = fma(vec4<f32>(av2.y), b10, lo2);
        hi2 = fma(vec4<f32>(av2.y), b11, hi2);
        lo2 = fma(vec4<f32>(av2.z), b20, lo2);
        hi2 = fma(vec4<f32>(av2.z), b21, hi2);
        lo2 = fma(vec4<f32>(av2.w), b30, lo2);
        hi2 = fma(vec4<f32>(av2.w), b31, hi2);
        let av3 = ld_a4(ia3 + k4);
        lo3 = fma(vec4<f32>(av3.x), b00, lo3);
        hi3 = fma(vec4<f32>(av3.x), b01, hi3);
        lo3 = fma(vec4<f32>(av3.y), b10, lo3);
        hi3 = fma(vec4<f32>(av3.y), b11, hi3);
        lo3 = fma(vec4<f32>(av3.z), b20, lo3);
        hi3 = fma(vec4<f32>(av3.z), b21, hi3);
        lo3 = fma(vec4<f32>(av3.w), b30, lo3);
        hi3 = fma(vec4<f32>(av3.w), b31, hi3);
        let av4 = ld_a4(ia4 + k4);
        lo4 = fma(vec4<f32>(av4.x), b00, lo4);
        hi4 = fma(vec4<f32>(av4.x), b01, hi4);
        lo4 = fma(vec4<f32>(av4.y), b10, lo4);
        hi4 = fma(vec4<f32>(av4.y), b11, hi4);
        lo4 = fma(vec4<f32>(av4.z), b20, lo4);
        hi4 = fma(vec4<f32>(av4.z), b21, hi4);
        lo4 = fma(vec4<f32>(av4.w), b30, lo4);
        hi4 = fma(vec4<f32>(av4.w), b31, hi4);
        let av5 = ld_a4(ia5 + k4);
        lo5 = fma(vec4<f32>(av5.x), b00, lo5);
        hi5 = fma(vec4<f32>(av5.x), b01, hi5);
        lo5 = fma(vec4<f32>(av5.y), b10, lo5);
        hi5 = fma(vec4<f32>(av5.y), b11, hi5);
        lo5 = fma(vec4<f32>(av5.z), b20, lo5);
        hi5 = fma(vec4<f32>(av5.z), b21, hi5);
        lo5 = fma(vec4<f32>(av5.w), b30, lo5);
        hi5 = fma(vec4<f32>(av5.w), b31, hi5);
        let av6 = ld_a4(ia6 + k4);
        lo6 = fma(vec4<f32>(av6.x), b00, lo6);
        hi6 = fma(vec4<f32>(av6.x), b01, hi6);
        lo6 = fma(vec4<f32>(av6.y), b10, lo6);
        hi6 = fma(vec4<f32>(av6.y), b11, hi6);
        lo6 = fma(vec4<f32>(av6.z), b20, lo6);
        hi6 = fma(vec4<f32>(av6.z), b21, hi6);
        lo6 = fma(vec4<f32>(av6.w), b30, lo6);
        hi6 = fma(vec4<f32>(av6.w), b31, hi6);
        let av7 = ld_a4(ia7 + k4);
        lo7 = fma(vec4<f32>(av7.x), b00, lo7);
        hi7 = fma(vec4<f32>(av7.x), b01, hi7);
        lo7 = fma(vec4<f32>(av7.y), b10, lo7);
        hi7 = fma(vec4<f32>(av7.y), b11, hi7);
        lo7 = fma(vec4<f32>(av7.z), b20, lo7);
        hi7 = fma(vec4<f32>(av7.z), b21, hi7);
        lo7 = fma(vec4<f32>(av7.w), b30, lo7);
        hi7 = fma(vec4<f32>(av7.w), b31, hi7);
        kb = kb + 4u * ldb4;
    }
    store_row8(o.batch, row0 + 0u * REG4_TILE, col0, lo0, hi0);
    store_row8(o.batch, row0 + 1u * REG4_TILE, col0, lo1, hi1);
    store_row8(o.batch, row0 + 2u * REG4_TILE, col0, lo2, hi2);
    store_row8(o.batch, row0 + 3u * REG4_TILE, col0, lo3, hi3);
    store_row8(o.batch, row0 + 4u * REG4_TILE, col0, lo4, hi4);
    store_row8(o.batch, row0 + 5u * REG4_TILE, col0, lo5, hi5);
    store_row8(o.batch, row0 + 6u * REG4_TILE, col0, lo6, hi6);
    store_row8(o.batch, row0 + 7u * REG4_TILE, col0, lo7, hi7);
}

// Stores the 8 columns from `col0` of one row of C (those inside the matrix).
fn store_row8(batch: u32, row: u32, col0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (row >= p.m) { return; }
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (col0 + j < p.n) {
            store(batch, row, col0 + j, lo[j]);
        }
        if (col0 + 4u + j < p.n) {
            store(batch, row, col0 + 4u + j, hi[j]);
        }
    }
}
