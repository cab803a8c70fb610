//! Reflection of every WGSL kernel with naga, held against the Rust kernel table: for each entry
//! point, the bindings it uses (group 0; binding 0 the uniform `Params`, bindings 1..=n
//! `read_write` storage with n = `Kernel::storage_bindings`), its workgroup size
//! (`Kernel::workgroup_size`, from WORKGROUP_SIZE and TILE), and the member names, offsets and
//! sizes of its `Params` struct against the Rust `#[repr(C)]` struct (`size_of`, `offset_of!`).
//! Every WGSL `const` that mirrors a Rust constant must have the Rust value. The last tests feed
//! deliberately broken shaders and check that each mismatch is reported. Every file is read as
//! the runtime compiles it: composed with its storage prelude (`shaders::compose`), in every
//! float storage variant (f32, f16, f16 packed).

use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use naga::{AddressSpace, Expression, Literal, Module, StorageAccess, TypeInner};
use tessera::runtime::shaders::{
    FloatStorage, Kernel, WGSL_CONSTANTS, composed_sources, naga_capabilities,
};

/// Parses and validates `source` (with f16 allowed: the f16 variant enables it, the others do
/// not use it; `pack2x16float` needs SHADER_FLOAT16_IN_FLOAT32, which wgpu grants every adapter
/// with the `SHADER_F16_IN_F32` downlevel flag, all of WebGPU's).
fn reflect(what: &str, source: &str) -> (Module, ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(source)));
    let caps = Capabilities::SHADER_FLOAT16
        | Capabilities::SHADER_FLOAT16_IN_FLOAT32
        | naga_capabilities(what);
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{what}: {}", e.emit_to_string(source)));
    (module, info)
}

/// What `k`'s entry point in `source` disagrees on with the Rust table (empty: all agree).
fn mismatches(k: Kernel, source: &str) -> Vec<String> {
    let (module, info) = reflect(k.file(), source);
    let mut bad = Vec::new();
    let Some(index) = module.entry_points.iter().position(|e| e.name == k.entry()) else {
        return vec![format!("{}: no entry point {}", k.file(), k.entry())];
    };
    let ep = &module.entry_points[index];
    let at = format!("{}::{} ({k:?})", k.file(), k.entry());
    if ep.stage != naga::ShaderStage::Compute {
        bad.push(format!("{at}: not a compute entry point"));
    }
    if ep.workgroup_size != k.workgroup_size() {
        bad.push(format!(
            "{at}: @workgroup_size {:?}, Rust says {:?}",
            ep.workgroup_size,
            k.workgroup_size()
        ));
    }
    let uses = info.get_entry_point(index);
    let mut params_ty = None;
    let mut highest_storage = 0;
    for (handle, var) in module.global_variables.iter() {
        let Some(binding) = &var.binding else {
            continue;
        };
        if uses[handle].is_empty() {
            continue;
        }
        let name = var.name.as_deref().unwrap_or("?");
        if binding.group != 0 {
            bad.push(format!("{at}: {name} is in group {}", binding.group));
        }
        match (binding.binding, var.space) {
            (0, AddressSpace::Uniform) => params_ty = Some(var.ty),
            (0, space) => bad.push(format!(
                "{at}: binding 0 ({name}) is {space:?}, not uniform"
            )),
            (b, AddressSpace::Storage { access }) => {
                if access != StorageAccess::LOAD | StorageAccess::STORE {
                    bad.push(format!("{at}: binding {b} ({name}) is not read_write"));
                }
                highest_storage = highest_storage.max(b);
            }
            (b, space) => bad.push(format!("{at}: binding {b} ({name}) is {space:?}")),
        }
    }
    if highest_storage != k.storage_bindings() {
        bad.push(format!(
            "{at}: uses storage bindings up to {highest_storage}, the kernel table says {}",
            k.storage_bindings()
        ));
    }
    match params_ty {
        Some(ty) => bad.extend(params_mismatches(&at, &module, ty, k)),
        None => bad.push(format!(
            "{at}: does not read the params uniform at binding 0"
        )),
    }
    bad
}

/// The WGSL `Params` struct `ty` against `k.params_layout()`.
fn params_mismatches(
    at: &str,
    module: &Module,
    ty: naga::Handle<naga::Type>,
    k: Kernel,
) -> Vec<String> {
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .unwrap_or_else(|e| panic!("{at}: layout: {e}"));
    let rust = k.params_layout();
    let wgsl = &module.types[ty];
    let TypeInner::Struct { members, span } = &wgsl.inner else {
        return vec![format!("{at}: binding 0 is not a struct")];
    };
    let mut bad = Vec::new();
    if wgsl.name.as_deref() != Some("Params") {
        bad.push(format!(
            "{at}: the uniform struct is {:?}, not Params",
            wgsl.name
        ));
    }
    if *span as usize != rust.size {
        bad.push(format!(
            "{at}: Params is {span} bytes, {} is {}",
            rust.name, rust.size
        ));
    }
    let wgsl_fields: Vec<(String, usize, usize)> = members
        .iter()
        .map(|m| {
            let name = m.name.clone().unwrap_or_default();
            (name, m.offset as usize, layouter[m.ty].size as usize)
        })
        .collect();
    let rust_fields: Vec<(String, usize, usize)> = rust
        .fields
        .iter()
        .map(|f| (f.name.to_string(), f.offset, f.size))
        .collect();
    if wgsl_fields != rust_fields {
        for i in 0..wgsl_fields.len().max(rust_fields.len()) {
            let (w, r) = (wgsl_fields.get(i), rust_fields.get(i));
            if w != r {
                bad.push(format!(
                    "{at}: member {i}: WGSL (name, offset, size) {w:?}, {} {r:?}",
                    rust.name
                ));
            }
        }
    }
    bad
}

/// Named `u32` constants of `source` that mirror a Rust constant, with wrong values.
fn constant_mismatches(file: &str, source: &str) -> (Vec<String>, Vec<&'static str>) {
    let (module, _) = reflect(file, source);
    let (mut bad, mut seen) = (Vec::new(), Vec::new());
    for (_, c) in module.constants.iter() {
        let Some(name) = c.name.as_deref() else {
            continue;
        };
        let Some(&(rust_name, want)) = WGSL_CONSTANTS.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        seen.push(rust_name);
        match module.global_expressions[c.init] {
            Expression::Literal(Literal::U32(v)) if v == want => {}
            ref e => bad.push(format!("{file}: const {name} is {e:?}, Rust says {want}u")),
        }
    }
    (bad, seen)
}

#[test]
fn every_entry_point_matches_the_kernel_table() {
    let bad: Vec<String> = Kernel::ALL
        .iter()
        .flat_map(|&k| {
            FloatStorage::ALL
                .iter()
                .flat_map(move |&s| mismatches(k, k.source_in(s)))
        })
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_wgsl_entry_point_is_in_the_kernel_table() {
    for (file, source) in composed_sources(FloatStorage::F32) {
        let (module, _) = reflect(file, source);
        for ep in &module.entry_points {
            assert!(
                Kernel::ALL
                    .iter()
                    .any(|k| k.file() == *file && k.entry() == ep.name),
                "{file}: entry point {} has no Kernel",
                ep.name
            );
        }
    }
}

#[test]
fn shared_constants_have_the_rust_values() {
    let mut seen = Vec::new();
    let mut bad = Vec::new();
    for (file, source) in composed_sources(FloatStorage::F32) {
        let (b, s) = constant_mismatches(file, source);
        bad.extend(b);
        seen.extend(s);
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    for (name, _) in WGSL_CONSTANTS {
        assert!(seen.contains(name), "no shader declares {name}");
    }
}

/// `k`'s own source with `from` replaced by `to` (which must occur).
fn broken(k: Kernel, from: &str, to: &str) -> String {
    let source = k.source();
    assert!(source.contains(from), "{}: {from:?} not found", k.file());
    source.replacen(from, to, 1)
}

#[test]
fn reordered_params_members_are_reported() {
    let source = broken(
        Kernel::MatMul,
        "    trans_a: u32,\n    trans_b: u32,",
        "    trans_b: u32,\n    trans_a: u32,",
    );
    let bad = mismatches(Kernel::MatMul, &source);
    assert!(
        bad.iter()
            .any(|m| m.contains("member 7") && m.contains("trans_b")),
        "{bad:?}"
    );
    // A member of another size shifts every offset after it and the struct size.
    let source = broken(
        Kernel::Softmax,
        "    eps: f32,\n",
        "    eps: f32,\n    extra: vec2<u32>,\n",
    );
    let bad = mismatches(Kernel::Softmax, &source);
    assert!(
        bad.iter()
            .any(|m| m.contains("Params is 32 bytes, NormParams is 16")),
        "{bad:?}"
    );
}

#[test]
fn changed_constants_and_workgroup_sizes_are_reported() {
    let source = broken(
        Kernel::MatMul,
        "const TILE: u32 = 16u;",
        "const TILE: u32 = 8u;",
    );
    let bad = mismatches(Kernel::MatMul, &source);
    assert!(
        bad.iter().any(|m| m.contains("@workgroup_size [8, 8, 1]")),
        "{bad:?}"
    );
    let (bad, _) = constant_mismatches("matmul.wgsl", &source);
    assert!(bad.iter().any(|m| m.contains("const TILE")), "{bad:?}");
    let source = broken(
        Kernel::Binary,
        "const BINARY_MUL: u32 = 2u;",
        "const BINARY_MUL: u32 = 3u;",
    );
    let (bad, _) = constant_mismatches("elementwise.wgsl", &source);
    assert_eq!(bad.len(), 1, "{bad:?}");
}

#[test]
fn binding_mismatches_are_reported() {
    // Embedding writes binding 3; without that store it uses bindings up to 2 only.
    let source = broken(Kernel::Embedding, "st_arg3(i, v);", "");
    let bad = mismatches(Kernel::Embedding, &source);
    assert!(
        bad.iter()
            .any(|m| m.contains("up to 2, the kernel table says 3")),
        "{bad:?}"
    );
    let source = broken(
        Kernel::Pool2d,
        "var<storage, read_write> x",
        "var<storage, read> x",
    );
    let bad = mismatches(Kernel::Pool2d, &source);
    assert!(
        bad.iter()
            .any(|m| m.contains("binding 1 (x) is not read_write")),
        "{bad:?}"
    );
}
