// conv.wgsl: im2col for 2-D convolution (NCHW, groups = 1). The column matrix
// [C*KH*KW, cols] for `cols` output positions of ONE image, starting at `col_start`, goes to the
// node's workspace (tiles run one after another, so the workspace stays small); the GEMM in
// matmul.wgsl then multiplies the weight [O, C*KH*KW] by it and writes the NCHW output plus the
// per-channel bias.
//
// One params block per tile serves both dispatches: its first 22 members are matmul.wgsl's
// Params (same names, same offsets), which the GEMM reads; im2col reads the members after them.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   im2col: 1 = x [N, C, H, W], 2 = col (workspace)

const WORKGROUP_SIZE: u32 = 256u;

struct Params {
    // The GEMM over this tile (matmul.wgsl's Params); unused here.
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
    c_offset: u32,
    tiles_n: u32,
    tiles_m: u32,
    tiles: u32,
    lda: u32,
    ldb: u32,
    ldc: u32,
    a_offset: u32,
    b_offset: u32,
    accumulate: u32,
    // im2col.
    total: u32,
    cols: u32,
    c: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    oh: u32,
    ow: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    dil_h: u32,
    dil_w: u32,
    // The image and first output position (within the image) of this tile.
    image: u32,
    col_start: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> col: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
    if (i >= p.total) { return; }
    let r = i / p.cols;
    let j = i % p.cols;
    let kx = r % p.kw;
    let ky = (r / p.kw) % p.kh;
    let ch = r / (p.kw * p.kh);
    let jj = p.col_start + j;
    let ox = jj % p.ow;
    let oy = (jj / p.ow) % p.oh;
    let n = p.image + jj / (p.ow * p.oh);
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
    let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
    var v = 0.0;
    if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        v = ld_x(((n * p.c + ch) * p.h + u32(iy)) * p.w + u32(ix));
    }
    st_col(i, v);
}
