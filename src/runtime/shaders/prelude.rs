//! Composition of a shader file for one float storage variant: every arena binding of a file is
//! declared on one line (`@group(0) @binding(N) var<storage, read_write> NAME: array<T>;`) and
//! read and written only through accessors (`ld_NAME(i)`, `st_NAME(i, v)`; see
//! `scripts/wgsl-accessors`, which rewrote the files). [`compose`] replaces each such line with
//! the variant's declaration and accessors, and appends the shared helpers the file calls
//! (`linear_index`, `reduce_sum`, `reduce_max`: one definition each instead of a copy per file).
//!
//! Binding element types in the files: `f32` (a float tensor, accessors in f32), `vec4<f32>` (a
//! vec4 view of a float tensor, read and written by whole vec4s: in the packed variant a vec4
//! is two whole words, so its plain store never shares a word with another invocation) and `elem` (a raw element moved without arithmetic:
//! a 32-bit word in the f32 variant, so f32 and u32 tensors alike, an f16 half otherwise). Any
//! other binding (u32 ids) is left as written.
//!
//! Variants ([`FloatStorage`]): `F32` declares `array<f32>` and its accessors index it, so the
//! composed f32 code does the same work as the hand-written files did; `F16` declares
//! `array<f16>` (`enable f16;`, `wgpu::Features::SHADER_F16`) and converts at each load and
//! store; `F16Packed` declares `array<atomic<u32>>`, two halves a word, loads with
//! `unpack2x16float` and stores one half with `atomicAnd` then `atomicOr` on its own 16 bits, so
//! two invocations storing the two halves of one word never lose each other's half.

use std::fmt::Write as _;

/// How a kernel's float tensors are stored in the arena (math is f32 in every variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FloatStorage {
    /// 4-byte f32 elements.
    F32,
    /// 2-byte f16 elements through WGSL's `f16` (needs `SHADER_F16`).
    F16,
    /// 2-byte f16 elements, two per `u32` word, through `pack2x16float`/`unpack2x16float`
    /// (adapters without `SHADER_F16`).
    F16Packed,
}

impl FloatStorage {
    /// Every variant.
    pub const ALL: [FloatStorage; 3] = [
        FloatStorage::F32,
        FloatStorage::F16,
        FloatStorage::F16Packed,
    ];

    /// Bytes per float element.
    pub fn element_bytes(self) -> u64 {
        match self {
            FloatStorage::F32 => 4,
            FloatStorage::F16 | FloatStorage::F16Packed => 2,
        }
    }

    /// Name for reports and the `TESSERA_F16_STORAGE` variable (`f32`, `native`, `packed`).
    pub fn name(self) -> &'static str {
        match self {
            FloatStorage::F32 => "f32",
            FloatStorage::F16 => "native",
            FloatStorage::F16Packed => "packed",
        }
    }
}

/// Element type of one arena binding line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    Float4,
    Elem,
}

/// `(binding, name, kind)` of an arena binding declaration line, `None` for any other line.
fn parse_binding(line: &str) -> Option<(u32, &str, Kind)> {
    let rest = line.trim().strip_prefix("@group(0) @binding(")?;
    let (n, rest) = rest.split_once(')')?;
    let rest = rest.trim_start().strip_prefix("var<storage, read_write>")?;
    let (name, ty) = rest.split_once(':')?;
    let kind = match ty.trim() {
        "array<f32>;" => Kind::Float,
        "array<vec4<f32>>;" => Kind::Float4,
        "array<elem>;" => Kind::Elem,
        _ => return None,
    };
    Some((n.parse().ok()?, name.trim(), kind))
}

/// The declaration and the accessors `source` calls of one binding in variant `s` (parameters
/// `i_` and `v_`, so that no binding name, such as attention's `v`, is shadowed; an accessor
/// nothing calls is left out, so a binding only read is never written).
fn binding(out: &mut String, source: &str, s: FloatStorage, (n, name, kind): (u32, &str, Kind)) {
    let decl = |ty: &str| format!("@group(0) @binding({n}) var<storage, read_write> {name}: {ty};");
    let text = match (s, kind) {
        (FloatStorage::F32, Kind::Float) => format!(
            "{}\nfn ld_{name}(i_: u32) -> f32 {{ return {name}[i_]; }}\n\
             fn st_{name}(i_: u32, v_: f32) {{ {name}[i_] = v_; }}",
            decl("array<f32>")
        ),
        (FloatStorage::F32, Kind::Float4) => format!(
            "{}\nfn ld_{name}(i_: u32) -> vec4<f32> {{ return {name}[i_]; }}\n\
             fn st_{name}(i_: u32, v_: vec4<f32>) {{ {name}[i_] = v_; }}",
            decl("array<vec4<f32>>")
        ),
        (FloatStorage::F32, Kind::Elem) => format!(
            "{}\nfn ld_{name}(i_: u32) -> elem {{ return {name}[i_]; }}\n\
             fn st_{name}(i_: u32, v_: elem) {{ {name}[i_] = v_; }}",
            decl("array<u32>")
        ),
        (FloatStorage::F16, Kind::Float) => format!(
            "{}\nfn ld_{name}(i_: u32) -> f32 {{ return f32({name}[i_]); }}\n\
             fn st_{name}(i_: u32, v_: f32) {{ {name}[i_] = f16(v_); }}",
            decl("array<f16>")
        ),
        (FloatStorage::F16, Kind::Float4) => format!(
            "{}\nfn ld_{name}(i_: u32) -> vec4<f32> {{ return vec4<f32>({name}[i_]); }}\n\
             fn st_{name}(i_: u32, v_: vec4<f32>) {{ {name}[i_] = vec4<f16>(v_); }}",
            decl("array<vec4<f16>>")
        ),
        (FloatStorage::F16, Kind::Elem) => format!(
            "{}\nfn ld_{name}(i_: u32) -> elem {{ return {name}[i_]; }}\n\
             fn st_{name}(i_: u32, v_: elem) {{ {name}[i_] = v_; }}",
            decl("array<f16>")
        ),
        (FloatStorage::F16Packed, Kind::Float) => format!(
            "{}\nfn ld_{name}(i_: u32) -> f32 {{ \
             return unpack2x16float(atomicLoad(&{name}[i_ >> 1u]))[i_ & 1u]; }}\n\
             fn st_{name}(i_: u32, v_: f32) {{ \
             let h = pack2x16float(vec2<f32>(v_, 0.0)) & 0xffffu; let s = (i_ & 1u) * 16u; \
             atomicAnd(&{name}[i_ >> 1u], ~(0xffffu << s)); atomicOr(&{name}[i_ >> 1u], h << s); }}",
            decl("array<atomic<u32>>")
        ),
        (FloatStorage::F16Packed, Kind::Float4) => format!(
            "{}\nfn ld_{name}(i_: u32) -> vec4<f32> {{ let w = {name}[i_]; \
             return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }}\n\
             fn st_{name}(i_: u32, v_: vec4<f32>) {{ \
             {name}[i_] = vec2<u32>(pack2x16float(v_.xy), pack2x16float(v_.zw)); }}",
            decl("array<vec2<u32>>")
        ),
        (FloatStorage::F16Packed, Kind::Elem) => format!(
            "{}\nfn ld_{name}(i_: u32) -> elem {{ \
             return (atomicLoad(&{name}[i_ >> 1u]) >> ((i_ & 1u) * 16u)) & 0xffffu; }}\n\
             fn st_{name}(i_: u32, v_: elem) {{ let s = (i_ & 1u) * 16u; \
             atomicAnd(&{name}[i_ >> 1u], ~(0xffffu << s)); \
             atomicOr(&{name}[i_ >> 1u], (v_ & 0xffffu) << s); }}",
            decl("array<atomic<u32>>")
        ),
    };
    for (i, line) in text.lines().enumerate() {
        let called = line
            .strip_prefix("fn ")
            .and_then(|l| l.split_once('('))
            .is_none_or(|(f, _)| source.contains(&format!("{f}(")));
        if called {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
}

/// Linear invocation index over a folded 3-D grid of WORKGROUP_SIZE workgroups.
const LINEAR_INDEX: &str = "
fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * WORKGROUP_SIZE + lid;
}
";

/// Workgroup tree reductions over `scratch` (every invocation must call them).
const REDUCE: &str = "
var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

fn reduce_sum(v: f32, lid: u32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = WORKGROUP_SIZE / 2u; s > 0u; s = s / 2u) {
        if (lid < s) { scratch[lid] = scratch[lid] + scratch[lid + s]; }
        workgroupBarrier();
    }
    let r = scratch[0];
    workgroupBarrier();
    return r;
}

fn reduce_max(v: f32, lid: u32) -> f32 {
    scratch[lid] = v;
    workgroupBarrier();
    for (var s = WORKGROUP_SIZE / 2u; s > 0u; s = s / 2u) {
        if (lid < s) { scratch[lid] = max(scratch[lid], scratch[lid + s]); }
        workgroupBarrier();
    }
    let r = scratch[0];
    workgroupBarrier();
    return r;
}
";

/// `source` composed for variant `s`: `enable f16;` first where needed, each arena binding line
/// replaced by its declaration and accessors, the shared helpers the file calls appended.
pub fn compose(source: &str, s: FloatStorage) -> String {
    let mut out = String::with_capacity(source.len() + 2048);
    let mut elems = false;
    if s == FloatStorage::F16 {
        out.push_str("enable f16;\n");
    }
    for line in source.lines() {
        match parse_binding(line) {
            Some(b) => {
                elems |= b.2 == Kind::Elem;
                binding(&mut out, source, s, b);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    if elems {
        let ty = if s == FloatStorage::F16 { "f16" } else { "u32" };
        let _ = writeln!(out, "alias elem = {ty};");
    }
    let calls =
        |f: &str| source.contains(&format!("{f}(")) && !source.contains(&format!("fn {f}("));
    if calls("linear_index") {
        out.push_str(LINEAR_INDEX);
    }
    if calls("reduce_sum") || calls("reduce_max") {
        out.push_str(REDUCE);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_lines_are_recognised_and_others_kept() {
        let src = "@group(0) @binding(3) var<storage, read_write> out: array<f32>;\n\
                   @group(0) @binding(2) var<storage, read_write> ids: array<u32>;\n\
                   fn f() { st_out(0u, 1.0); }\n";
        let f32 = compose(src, FloatStorage::F32);
        assert!(f32.contains("fn st_out(i_: u32, v_: f32) { out[i_] = v_; }"));
        assert!(f32.contains("ids: array<u32>;"));
        assert!(!f32.contains("fn ld_out"), "nothing reads out");
        assert!(!f32.contains("enable f16"));
        let f16 = compose(src, FloatStorage::F16);
        assert!(f16.starts_with("enable f16;"));
        assert!(f16.contains("out: array<f16>;"));
        let packed = compose(src, FloatStorage::F16Packed);
        assert!(packed.contains("out: array<atomic<u32>>;"));
        assert!(packed.contains("ids: array<u32>;"));
    }
}
