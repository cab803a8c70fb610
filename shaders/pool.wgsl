// pool.wgsl: max / average pooling with padding (NCHW) and global average pooling.
// Max ignores padding (padding never wins); average divides by the in-bounds count.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   pool2d, global_avg_pool: 1 = x [N, C, H, W], 2 = out

const WORKGROUP_SIZE: u32 = 256u;
const POOL_MAX: u32 = 0u;
const POOL_AVG: u32 = 1u;
const LOWEST_F32: f32 = -3.402823e38;

struct Params {
    total: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    kind: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = i / (p.ow * p.oh);
    let base = plane * p.h * p.w;
    var best = LOWEST_F32;
    var sum = 0.0;
    var count = 0u;
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
        let iy = i32(oy * p.stride_h + ky) - i32(p.pad_h);
        if (iy < 0 || iy >= i32(p.h)) { continue; }
        for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
            let ix = i32(ox * p.stride_w + kx) - i32(p.pad_w);
            if (ix < 0 || ix >= i32(p.w)) { continue; }
            let v = ld_x(base + u32(iy) * p.w + u32(ix));
            best = max(best, v);
            sum = sum + v;
            count = count + 1u;
        }
    }
    if (p.kind == POOL_MAX) {
        st_out(i, best);
    } else { // POOL_AVG
        st_out(i, sum / f32(max(count, 1u)));
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn global_avg_pool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let n = p.h * p.w;
    let base = i * n;
    var sum = 0.0;
    for (var j = 0u; j < n; j = j + 1u) { sum = sum + ld_x(base + j); }
    st_out(i, sum / f32(max(n, 1u)));
}
