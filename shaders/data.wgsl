// data.wgsl: data movement on raw elements (`elem`: 32-bit words, f32 and u32 alike, in the f32
// storage variant; f16 halves in the f16 variants, see src/runtime/shaders/prelude.rs): permute,
// one slice of a concat (one dispatch per input), the embedding gather with u32 ids, and a plain
// copy.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform)
//   permute:      1 = x, 2 = out
//   concat_piece: 1 = input piece, 2 = out (written at its slice only)
//   embedding:    1 = table rows [offset, offset + rows) of [V, D], 2 = ids (u32), 3 = out
//                 (a table larger than one binding is gathered by one dispatch per chunk of
//                 rows: each writes the tokens whose id falls in its rows, and the chunk at row 0
//                 also writes the zeros of ids at or past V)
//   copy:         1 = x, 2 = out

const WORKGROUP_SIZE: u32 = 256u;
const MAX_RANK: u32 = 8u;

struct Params {
    total: u32,
    rank: u32,
    inner_in: u32,
    inner_out: u32,
    offset: u32,
    dim: u32,
    vocab: u32,
    rows: u32,
    dims: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> arg1: array<elem>;
@group(0) @binding(2) var<storage, read_write> arg2: array<elem>;
@group(0) @binding(3) var<storage, read_write> arg3: array<elem>;
// Binding 2 of `embedding`: the token ids, u32 in every storage variant.
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn permute(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    var rem = i;
    var src = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let n = p.dims[k / 4u][k % 4u];
        src = src + (rem % n) * p.strides[k / 4u][k % 4u];
        rem = rem / n;
    }
    st_arg2(i, ld_arg1(src));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn concat_piece(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let outer = i / p.inner_in;
    let inner = i % p.inner_in;
    st_arg2(outer * p.inner_out + p.offset + inner, ld_arg1(i));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn embedding(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let token = i / p.dim;
    let d = i % p.dim;
    let id = ids[token];
    let mine = id >= p.offset && id - p.offset < p.rows;
    if (mine || (id >= p.vocab && p.offset == 0u)) {
        var v = elem(0);
        if (mine) { v = ld_arg1((id - p.offset) * p.dim + d); }
        st_arg3(i, v);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    st_arg2(i, ld_arg1(i));
}
