// conv_grad.wgsl: convolution gradients (NCHW, groups = 1), one thread per output element,
// each gathering its sum (no atomics, no workspace).
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   conv_grad_input:  1 = dy [N, O, OH, OW], 2 = w [O, C, KH, KW], 3 = dx [N, C, H, W]
//   conv_grad_weight: 1 = x [N, C, H, W], 2 = dy [N, O, OH, OW], 3 = dw [O, C, KH, KW]
//   conv_grad_bias:   1 = dy [N, O, OH, OW], 2 = db [O]

const WORKGROUP_SIZE: u32 = 256u;

struct Params {
    total: u32,
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    o: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    dil_h: u32,
    dil_w: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;

// The output coordinate whose tap `k` reads input coordinate `i` (stride s, padding pad,
// dilation d, size n), or -1 when none does.
fn tap_source(i: u32, k: u32, s: u32, pad: u32, d: u32, n: u32) -> i32 {
    let num = i32(i + pad) - i32(k * d);
    if (num < 0 || u32(num) % s != 0u) { return -1; }
    let o = u32(num) / s;
    if (o >= n) { return -1; }
    return i32(o);
}

// dx[n, c, iy, ix] = sum over (o, ky, kx) whose output pixel reads (iy, ix) of dy * w.
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv_grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.c;
    let n = i / (p.w * p.h * p.c);
    var acc = 0.0;
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
        let oy = tap_source(iy, ky, p.stride_h, p.pad_h, p.dil_h, p.oh);
        if (oy < 0) { continue; }
        for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
            let ox = tap_source(ix, kx, p.stride_w, p.pad_w, p.dil_w, p.ow);
            if (ox < 0) { continue; }
            for (var o = 0u; o < p.o; o = o + 1u) {
                let dy = ld_arg1(((n * p.o + o) * p.oh + u32(oy)) * p.ow + u32(ox));
                acc = acc + dy * ld_arg2(((o * p.c + ci) * p.kh + ky) * p.kw + kx);
            }
        }
    }
    st_arg3(i, acc);
}

// dw[o, c, ky, kx] = sum over (n, oy, ox) of x[n, c, oy*s - pad + ky*d, ...] * dy[n, o, oy, ox].
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv_grad_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let kx = i % p.kw;
    let ky = (i / p.kw) % p.kh;
    let ci = (i / (p.kw * p.kh)) % p.c;
    let o = i / (p.kw * p.kh * p.c);
    var acc = 0.0;
    for (var n = 0u; n < p.n; n = n + 1u) {
        for (var oy = 0u; oy < p.oh; oy = oy + 1u) {
            let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
            if (iy < 0 || iy >= i32(p.h)) { continue; }
            for (var ox = 0u; ox < p.ow; ox = ox + 1u) {
                let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
                if (ix < 0 || ix >= i32(p.w)) { continue; }
                let xv = ld_arg1(((n * p.c + ci) * p.h + u32(iy)) * p.w + u32(ix));
                acc = acc + xv * ld_arg2(((n * p.o + o) * p.oh + oy) * p.ow + ox);
            }
        }
    }
    st_arg3(i, acc);
}

// db[o] = sum over (n, oy, ox) of dy[n, o, oy, ox].
@compute @workgroup_size(WORKGROUP_SIZE)
fn conv_grad_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let o = linear_index(wid, nwg, lid);
    if (o >= p.total) { return; }
    let plane = p.oh * p.ow;
    var acc = 0.0;
    for (var n = 0u; n < p.n; n = n + 1u) {
        let base = (n * p.o + o) * plane;
        for (var j = 0u; j < plane; j = j + 1u) { acc = acc + ld_arg1(base + j); }
    }
    st_arg2(o, acc);
}
