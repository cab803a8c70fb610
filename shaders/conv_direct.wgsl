// conv_direct.wgsl: direct 2-D convolution (NCHW, groups = 1) with no workspace. One workgroup
// computes a tile_h x tile_w block of one image's output positions for DIRECT_CHANNELS output
// channels: it stages `chunk` input channels of the input window those positions read into
// workgroup memory at a time, then each thread accumulates a register block of POS_PER_THREAD
// positions x PER_THREAD channels, so that every staged input value feeds PER_THREAD
// multiply-adds and every weight POS_PER_THREAD of them (8 loads per 16 multiply-adds, where one
// position x 4 channels per thread took 5 per 4). Stride, zero padding, dilation and an optional
// per-channel bias.
//
// Threads: DIRECT_THREADS = (DIRECT_POSITIONS / POS_PER_THREAD) x (DIRECT_CHANNELS / PER_THREAD).
// Thread lid owns positions lid % POS_GROUPS + i * POS_GROUPS (i < POS_PER_THREAD) of the tile and
// channels (lid / POS_GROUPS) * PER_THREAD + j (j < PER_THREAD) of the block.
//
// Bindings (group 0), every arena binding read_write (one buffer, see DESIGN.md):
//   0: params (uniform), 1 = x [N, C, H, W], 2 = w [O, C, KH, KW], 3 = out [N, O, OH, OW],
//   4 = bias [O] (the output again when there is none; then unread)

// Output positions per workgroup: a tile_h x tile_w block (at most this many).
const DIRECT_POSITIONS: u32 = 64u;
const DIRECT_CHANNELS: u32 = 16u;
// f32 elements of the staged input window (16 KiB of workgroup memory).
const DIRECT_PATCH: u32 = 4096u;
// The register block of one thread.
const POS_PER_THREAD: u32 = 4u;
const PER_THREAD: u32 = 4u;
const POS_GROUPS: u32 = DIRECT_POSITIONS / POS_PER_THREAD;
const DIRECT_THREADS: u32 = POS_GROUPS * (DIRECT_CHANNELS / PER_THREAD);

struct Params {
    c: u32,
    h: u32,
    w: u32,
    o: u32,
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
    tile_h: u32,
    tile_w: u32,
    patch_h: u32,
    patch_w: u32,
    chunk: u32,
    tiles_x: u32,
    tiles_y: u32,
    oc_blocks: u32,
    groups: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> wt: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

var<workgroup> staged: array<f32, DIRECT_PATCH>;

// Stages channels c0 .. c0 + cc of the input window whose top-left input element is (iy0, ix0)
// (zero outside the image) into `staged`, channel-major, patch_h x patch_w each.
fn stage(lid: u32, n: u32, c0: u32, cc: u32, iy0: i32, ix0: i32) {
    let plane = p.patch_h * p.patch_w;
    for (var e = lid; e < cc * plane; e += DIRECT_THREADS) {
        let r = e % plane;
        let iy = iy0 + i32(r / p.patch_w);
        let ix = ix0 + i32(r % p.patch_w);
        var v = 0.0;
        if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
            v = ld_x(((n * p.c + c0 + e / plane) * p.h + u32(iy)) * p.w + u32(ix));
        }
        staged[e] = v;
    }
}

@compute @workgroup_size(DIRECT_THREADS)
fn conv_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    // Folded grid: the linear workgroup index, then (image, channel block, tile row, tile col).
    let g = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;
    if (g >= p.groups) { return; }
    let tile_x = g % p.tiles_x;
    let tile_y = (g / p.tiles_x) % p.tiles_y;
    let ocb = (g / (p.tiles_x * p.tiles_y)) % p.oc_blocks;
    let n = g / (p.tiles_x * p.tiles_y * p.oc_blocks);
    let oc0 = ocb * DIRECT_CHANNELS + (lid / POS_GROUPS) * PER_THREAD;
    let iy0 = i32(tile_y * p.tile_h * p.stride_h) - i32(p.pad_h);
    let ix0 = i32(tile_x * p.tile_w * p.stride_w) - i32(p.pad_w);
    let plane = p.patch_h * p.patch_w;
    let w_oc = p.c * p.kh * p.kw;
    // Per position of the block: its output index in the plane and its window's offset in a
    // staged channel (0 for positions outside the tile or the image: read, never written).
    var at: array<u32, POS_PER_THREAD>;
    var base: array<u32, POS_PER_THREAD>;
    var inside: array<bool, POS_PER_THREAD>;
    for (var i = 0u; i < POS_PER_THREAD; i++) {
        let pos = lid % POS_GROUPS + i * POS_GROUPS;
        let ty = pos / p.tile_w;
        let tx = pos % p.tile_w;
        let oy = tile_y * p.tile_h + ty;
        let ox = tile_x * p.tile_w + tx;
        inside[i] = ty < p.tile_h && oy < p.oh && ox < p.ow;
        at[i] = oy * p.ow + ox;
        base[i] = select(0u, ty * p.stride_h * p.patch_w + tx * p.stride_w, inside[i]);
    }
    // Per channel of the block: its weights' offset (channels past O read the last one; they
    // are never written).
    var woff: array<u32, PER_THREAD>;
    for (var j = 0u; j < PER_THREAD; j++) { woff[j] = min(oc0 + j, p.o - 1u) * w_oc; }
    var acc = array<f32, POS_PER_THREAD * PER_THREAD>();
    for (var c0 = 0u; c0 < p.c; c0 += p.chunk) {
        let cc = min(p.chunk, p.c - c0);
        stage(lid, n, c0, cc, iy0, ix0);
        workgroupBarrier();
        for (var ch = 0u; ch < cc; ch++) {
            for (var ky = 0u; ky < p.kh; ky++) {
                for (var kx = 0u; kx < p.kw; kx++) {
                    let off = ch * plane + ky * p.dil_h * p.patch_w + kx * p.dil_w;
                    let wi = ((c0 + ch) * p.kh + ky) * p.kw + kx;
                    var wv: array<f32, PER_THREAD>;
                    for (var j = 0u; j < PER_THREAD; j++) { wv[j] = ld_wt(woff[j] + wi); }
                    for (var i = 0u; i < POS_PER_THREAD; i++) {
                        let v = staged[off + base[i]];
                        for (var j = 0u; j < PER_THREAD; j++) {
                            acc[i * PER_THREAD + j] += v * wv[j];
                        }
                    }
                }
            }
        }
        workgroupBarrier();
    }
    for (var j = 0u; j < PER_THREAD; j++) {
        let oc = oc0 + j;
        if (oc >= p.o) { continue; }
        var b = 0.0;
        if (p.has_bias != 0u) { b = ld_bias(oc); }
        for (var i = 0u; i < POS_PER_THREAD; i++) {
            if (inside[i]) {
                st_out((n * p.o + oc) * p.oh * p.ow + at[i], acc[i * PER_THREAD + j] + b);
            }
        }
    }
}
