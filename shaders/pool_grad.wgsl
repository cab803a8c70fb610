// pool_grad.wgsl: gradients of pooling, global average pooling and 2x upsampling (NCHW), one
// thread per input element gathering from the output windows that read it (no atomics).
// Max pooling sends each window's gradient to the window's first maximum in row-major order
// (strictly greater wins, padding never wins), the same element the CPU reference picks;
// average pooling divides by the window's in-bounds count, as the forward does.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   max_pool2d_grad: 1 = dy [N, C, OH, OW], 2 = x [N, C, H, W], 3 = dx [N, C, H, W]
//   avg_pool2d_grad, global_avg_pool_grad, upsample2x_grad: 1 = dy, 2 = dx [N, C, H, W]

const WORKGROUP_SIZE: u32 = 256u;

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
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;

// First and one-past-last output coordinate whose window (size k, stride s, padding pad)
// covers input coordinate i, clipped to [0, n).
fn covering(i: u32, k: u32, s: u32, pad: u32, n: u32) -> vec2<u32> {
    let top = i + pad; // window o covers i when o*s <= top <= o*s + k - 1
    var lo = 0u;
    if (top + 1u > k) { lo = (top + 1u - k + s - 1u) / s; }
    let hi = min(top / s + 1u, n);
    return vec2<u32>(lo, max(lo, hi));
}

// In-bounds extent [first, last] of window o along an axis of size n, as (first, count).
fn extent(o: u32, k: u32, s: u32, pad: u32, n: u32) -> vec2<i32> {
    let first = max(i32(o * s) - i32(pad), 0);
    let last = min(i32(o * s + k) - i32(pad), i32(n));
    return vec2<i32>(first, max(last - first, 0));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn max_pool2d_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let plane = i / (p.w * p.h);
    let base = plane * p.h * p.w;
    let rows = covering(iy, p.kh, p.stride_h, p.pad_h, p.oh);
    let cols = covering(ix, p.kw, p.stride_w, p.pad_w, p.ow);
    var acc = 0.0;
    for (var oy = rows.x; oy < rows.y; oy = oy + 1u) {
        let ey = extent(oy, p.kh, p.stride_h, p.pad_h, p.h);
        for (var ox = cols.x; ox < cols.y; ox = ox + 1u) {
            let ex = extent(ox, p.kw, p.stride_w, p.pad_w, p.w);
            var best = base + u32(ey.x) * p.w + u32(ex.x);
            for (var y = ey.x; y < ey.x + ey.y; y = y + 1) {
                for (var x = ex.x; x < ex.x + ex.y; x = x + 1) {
                    let at = base + u32(y) * p.w + u32(x);
                    if (ld_arg2(at) > ld_arg2(best)) { best = at; }
                }
            }
            if (best == i) { acc = acc + ld_arg1((plane * p.oh + oy) * p.ow + ox); }
        }
    }
    st_arg3(i, acc);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn avg_pool2d_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let plane = i / (p.w * p.h);
    let rows = covering(iy, p.kh, p.stride_h, p.pad_h, p.oh);
    let cols = covering(ix, p.kw, p.stride_w, p.pad_w, p.ow);
    var acc = 0.0;
    for (var oy = rows.x; oy < rows.y; oy = oy + 1u) {
        let ny = extent(oy, p.kh, p.stride_h, p.pad_h, p.h).y;
        for (var ox = cols.x; ox < cols.y; ox = ox + 1u) {
            let nx = extent(ox, p.kw, p.stride_w, p.pad_w, p.w).y;
            acc = acc + ld_arg1((plane * p.oh + oy) * p.ow + ox) / f32(max(ny * nx, 1));
        }
    }
    st_arg2(i, acc);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn global_avg_pool_grad(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let n = p.h * p.w;
    st_arg2(i, ld_arg1(i / n) / f32(n));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn upsample2x_grad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let plane = i / (p.w * p.h);
    var acc = 0.0;
    for (var y = 2u * iy; y < min(2u * iy + 2u, p.oh); y = y + 1u) {
        for (var x = 2u * ix; x < min(2u * ix + 2u, p.ow); x = x + 1u) {
            acc = acc + ld_arg1((plane * p.oh + y) * p.ow + x);
        }
    }
    st_arg2(i, acc);
}
