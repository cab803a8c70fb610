// backward_ids.wgsl: training kernels that read u32 ids or labels (always binding 1): the
// embedding table's gradient (a deterministic scatter-add: one invocation per table element
// loops over every id in order, so no float atomics), and softmax cross-entropy (mean over
// rows) with its gradient. A label at or past the class count reads as the last class (the
// CPU reference refuses it; the synthetic labels are in range by construction).
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform, TrainParams)
//   embedding_backward:      1 = ids (u32), 2 = dy [n, D], 3 = dtable [V, D]
//   cross_entropy:           1 = labels (u32), 2 = logits [rows, C], 3 = loss [1] (one workgroup)
//   cross_entropy_backward:  1 = labels (u32), 2 = logits, 3 = dloss [1], 4 = dlogits
//                            (one workgroup per row)

const WORKGROUP_SIZE: u32 = 256u;
const LOWEST_F32: f32 = -3.402823e38;

struct Params {
    total: u32,
    rows: u32,
    cols: u32,
    op: u32,
    eps: f32,
    factor: f32,
    inner_in: u32,
    inner_out: u32,
    offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> arg2: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg3: array<f32>;
@group(0) @binding(4) var<storage, read_write> arg4: array<f32>;

// total = V * D, rows = number of ids, cols = D.
@compute @workgroup_size(WORKGROUP_SIZE)
fn embedding_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, nwg, lid);
    if (i >= p.total) { return; }
    let v = i / p.cols;
    let d = i % p.cols;
    var s = 0.0;
    for (var t = 0u; t < p.rows; t = t + 1u) {
        if (ids[t] == v) { s = s + ld_arg2(t * p.cols + d); }
    }
    st_arg3(i, s);
}

fn log_sum_exp(base: u32) -> f32 {
    var m = LOWEST_F32;
    for (var j = 0u; j < p.cols; j = j + 1u) { m = max(m, ld_arg2(base + j)); }
    var s = 0.0;
    for (var j = 0u; j < p.cols; j = j + 1u) { s = s + exp(ld_arg2(base + j) - m); }
    return m + log(s);
}

// One workgroup: invocation lid handles rows lid, lid + 256, ...; then a tree reduction.
@compute @workgroup_size(WORKGROUP_SIZE)
fn cross_entropy(@builtin(local_invocation_index) lid: u32) {
    var s = 0.0;
    for (var r = lid; r < p.rows; r = r + WORKGROUP_SIZE) {
        let base = r * p.cols;
        s = s + log_sum_exp(base) - ld_arg2(base + min(ids[r], p.cols - 1u));
    }
    s = reduce_sum(s, lid);
    if (lid == 0u) { st_arg3(0, s / f32(max(p.rows, 1u))); }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn cross_entropy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    let row = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (row >= p.rows) { return; }
    let base = row * p.cols;
    var m = LOWEST_F32;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { m = max(m, ld_arg2(base + j)); }
    m = reduce_max(m, lid);
    var s = 0.0;
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) { s = s + exp(ld_arg2(base + j) - m); }
    let lse = m + log(reduce_sum(s, lid));
    let label = min(ids[row], p.cols - 1u);
    let scale = ld_arg3(0) / f32(p.rows);
    for (var j = lid; j < p.cols; j = j + WORKGROUP_SIZE) {
        let onehot = select(0.0, 1.0, j == label);
        st_arg4(base + j, (exp(ld_arg2(base + j) - lse) - onehot) * scale);
    }
}
