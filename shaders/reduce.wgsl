// reduce.wgsl: the sum of x down to a shape that broadcasts to it (the gradient of a broadcast
// operand or a bias). One invocation per output element sums, in order, the x elements that
// broadcast from it: deterministic, no atomics. x's axes are split into kept axes (the output's,
// in order) and reduced axes, each with its x stride; rank <= MAX_RANK each.
// Indexing is folded-grid safe: i = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WORKGROUP_SIZE + lid.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform, ReduceParams)
//   reduce_to: 1 = x, 2 = out

const WORKGROUP_SIZE: u32 = 256u;
const MAX_RANK: u32 = 8u;

struct Params {
    total: u32,
    kept_rank: u32,
    red_rank: u32,
    red_total: u32,
    kept_dims: array<vec4<u32>, 2>,
    kept_strides: array<vec4<u32>, 2>,
    red_dims: array<vec4<u32>, 2>,
    red_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> rp: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce_to(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= rp.total) { return; }
    var rem = i;
    var base = 0u;
    for (var d = i32(rp.kept_rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let n = rp.kept_dims[k / 4u][k % 4u];
        base = base + (rem % n) * rp.kept_strides[k / 4u][k % 4u];
        rem = rem / n;
    }
    var s = 0.0;
    for (var r = 0u; r < rp.red_total; r = r + 1u) {
        var rr = r;
        var off = base;
        for (var d = i32(rp.red_rank) - 1; d >= 0; d = d - 1) {
            let k = u32(d);
            let n = rp.red_dims[k / 4u][k % 4u];
            off = off + (rr % n) * rp.red_strides[k / 4u][k % 4u];
            rr = rr / n;
        }
        s = s + ld_arg1(off);
    }
    st_arg2(i, s);
}

