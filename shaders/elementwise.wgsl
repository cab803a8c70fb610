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
//
// The `*4` entry points (binary4, binary4_inplace, unary4, unary4_inplace; same bindings, seen
// as vec4s) compute four consecutive output elements per invocation with vec4 loads and stores:
// quad q covers elements 4q..4q+3 of a count that is a multiple of 4 (the lowering runs the
// rest of a longer count with the scalar kernel). The lowering uses them only when every
// binding is 16-byte aligned and at least 16 bytes long, and each operand is VEC_FULL (the
// output's own elements), or, when the output's last axis is a multiple of 4, VEC_ROW (a vec4
// at its broadcast offset) or VEC_SPLAT (one element for the whole quad, from an operand that
// is a whole number of vec4s).

const WORKGROUP_SIZE: u32 = 256u;
const MAX_RANK: u32 = 8u;

const BINARY_ADD: u32 = 0u;
const BINARY_SUB: u32 = 1u;
const BINARY_MUL: u32 = 2u;
const UNARY_RELU: u32 = 0u;
const UNARY_GELU: u32 = 1u;
const UNARY_SCALE: u32 = 2u;
const VEC_FULL: u32 = 0u;
const VEC_ROW: u32 = 1u;
const VEC_SPLAT: u32 = 2u;

struct Params {
    total: u32,
    op: u32,
    rank: u32,
    scale: f32,
    dims: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
    a_mode: u32,
    b_mode: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<f32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;
// The same bindings seen as vec4s, for the `*4` entry points only.
@group(0) @binding(1) var<storage, read_write> arg1v: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> arg2v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> arg3v: array<vec4<f32>>;

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

fn binary_op4(x: vec4<f32>, y: vec4<f32>) -> vec4<f32> {
    switch p.op {
        case BINARY_ADD: { return x + y; }
        case BINARY_SUB: { return x - y; }
        default: { return x * y; }
    }
}

fn stable_tanh4(u: vec4<f32>) -> vec4<f32> {
    let t = exp(-2.0 * abs(u));
    return sign(u) * (1.0 - t) / (1.0 + t);
}

fn unary_op4(x: vec4<f32>) -> vec4<f32> {
    switch p.op {
        case UNARY_RELU: { return max(x, vec4<f32>(0.0)); }
        case UNARY_GELU: {
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
            return 0.5 * x * (1.0 + stable_tanh4(u));
        }
        default: { return x * p.scale; }
    }
}

// Operand offsets of the quad starting at output element i (only the non-VEC_FULL ones are
// used, so the index arithmetic is skipped when both operands are full).
fn quad_offsets(i: u32) -> vec2<u32> {
    if (p.a_mode == VEC_FULL && p.b_mode == VEC_FULL) { return vec2<u32>(i, i); }
    return operand_offsets(i);
}

// An entry point may not use two variables of one binding, so the vec4 kernels read and write
// only the vec4 views: a splatted value is one component of a vec4.
fn load_a4(q: u32, off: u32) -> vec4<f32> {
    switch p.a_mode {
        case VEC_FULL: { return ld_arg1v(q); }
        case VEC_ROW: { return ld_arg1v(off / 4u); }
        default: { return vec4<f32>(ld_arg1v(off / 4u)[off % 4u]); }
    }
}

fn load_b4(q: u32, off: u32) -> vec4<f32> {
    switch p.b_mode {
        case VEC_FULL: { return ld_arg2v(q); }
        case VEC_ROW: { return ld_arg2v(off / 4u); }
        default: { return vec4<f32>(ld_arg2v(off / 4u)[off % 4u]); }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let q = linear_index(wid, nwg, lid);
    if (q >= p.total / 4u) { return; }
    let off = quad_offsets(q * 4u);
    st_arg3v(q, binary_op4(load_a4(q, off.x), load_b4(q, off.y)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn binary4_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
    let q = linear_index(wid, nwg, lid);
    if (q >= p.total / 4u) { return; }
    // a has the output's shape (VEC_FULL): each invocation reads exactly the quad it writes.
    let off = quad_offsets(q * 4u);
    st_arg1v(q, binary_op4(ld_arg1v(q), load_b4(q, off.y)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unary4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let q = linear_index(wid, nwg, lid);
    if (q >= p.total / 4u) { return; }
    st_arg2v(q, unary_op4(ld_arg1v(q)));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn unary4_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let q = linear_index(wid, nwg, lid);
    if (q >= p.total / 4u) { return; }
    st_arg1v(q, unary_op4(ld_arg1v(q)));
}
