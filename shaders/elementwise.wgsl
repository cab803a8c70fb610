// elementwise.wgsl: binary arithmetic with numpy broadcasting, unary functions, and their
// in-place variants (the result overwrites binding 1; nothing else is written).
//
// Broadcasting: the output index is decomposed over `dims` (row-major, rank <= MAX_RANK) and
// each operand is read at sum(coord[i] * stride[i]) with stride 0 on broadcast axes.
// Indexing is folded-grid safe (2-D or 3-D dispatches past the per-dimension limit):
// i = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WORKGROUP_SIZE + lid.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   binary:          1 = a, 2 = b, 3 = out
//   binary_inplace:  1 = a (overwritten with the result), 2 = b
//   unary:           1 = x, 2 = out
//   unary_inplace:   1 = x (overwritten with the result)

const WORKGROUP_SIZE: u32 = 256u;
const MAX_RANK: u32 = 8u;

const BINARY_ADD: u32 = 0u;
const BINARY_SUB: u32 = 1u;
const BINARY_MUL: u32 = 2u;
const UNARY_RELU: u32 = 0u;
const UNARY_GELU: u32 = 1u;
const UNARY_SCALE: u32 = 2u;

struct Params {
    total: u32,
    op: u32,
    rank: u32,
    scale: f32,
    dims: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;

// Element offsets of operands a and b for output element i.
fn operand_offsets(i: u32) -> vec2<u32> {
    var rem = i;
    var off = vec2<u32>(0u, 0u);
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let n = p.dims[k / 4u][k % 4u];
        let coord = rem % n;
        rem = rem / n;
        off = off + coord * vec2<u32>(p.a_strides[k / 4u][k % 4u], p.b_strides[k / 4u][k % 4u]);
    }
    return off;
}

fn binary_op(x: f32, y: f32) -> f32 {
    switch p.op {
        case BINARY_ADD: { return x + y; }
        case BINARY_SUB: { return x - y; }
        default: { return x * y; }
    }
}

// tanh without overflow for large |u|.
fn stable_tanh(u: f32) -> f32 {
    let t = exp(-2.0 * abs(u));
    return sign(u) * (1.0 - t) / (1.0 + t);
}

fn unary_op(x: f32) -> f32 {
    switch p.op {
        case UNARY_RELU: { return max(x, 0.0); }
        case UNARY_GELU: {
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
            return 0.5 * x * (1.0 + stable_tanh(u));
        }
        default: { return x * p.scale; }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let off = operand_offsets(i);
    st_arg3(i, binary_op(ld_arg1(off.x), ld_arg2(off.y)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let off = operand_offsets(i);
    // The output has a's shape, so a is read at exactly the element being written.
    st_arg1(i, binary_op(ld_arg1(off.x), ld_arg2(off.y)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unary(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    st_arg2(i, unary_op(ld_arg1(i)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unary_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    st_arg1(i, unary_op(ld_arg1(i)));
}
