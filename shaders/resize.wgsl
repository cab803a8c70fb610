// resize.wgsl: nearest-neighbour 2x upsampling (NCHW), optionally cropped by one row or column
// (the output size is 2H or 2H - 1, 2W or 2W - 1): out[y][x] = in[y / 2][x / 2].
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   upsample2x: 1 = x [N, C, H, W], 2 = out [N, C, OH, OW]

const WORKGROUP_SIZE: u32 = 256u;

struct Params {
    total: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn upsample2x(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = i / (p.ow * p.oh);
    st_out(i, ld_x((plane * p.h + oy / 2u) * p.w + ox / 2u));
}
