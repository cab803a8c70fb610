//! Parses and validates every WGSL file in `shaders/` with naga, without a GPU, composed with
//! its storage prelude in every float storage variant (`shaders::compose`: f32, f16, f16
//! packed). The directory is listed at run time, so a new shader file is covered without
//! touching this test.

use naga::valid::Capabilities;
use std::path::Path;
use tessera::runtime::shaders::{FloatStorage, compose};

#[test]
fn every_shader_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    entries.sort();
    assert!(
        !entries.is_empty(),
        "no .wgsl files found in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    let variants = [
        (FloatStorage::F32, Capabilities::default()),
        (FloatStorage::F16, Capabilities::SHADER_FLOAT16),
        (
            FloatStorage::F16Packed,
            Capabilities::SHADER_FLOAT16_IN_FLOAT32,
        ),
    ];
    for path in &entries {
        let raw = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for (storage, caps) in variants {
            failures.extend(check(path, &compose(&raw, storage), caps));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The parse or validation failure of one composed file, if any.
fn check(path: &Path, source: &str, caps: Capabilities) -> Option<String> {
    {
        let module = match naga::front::wgsl::parse_str(source) {
            Ok(m) => m,
            Err(e) => {
                return Some(format!(
                    "{}: parse error:\n{}",
                    path.display(),
                    e.emit_to_string(source)
                ));
            }
        };
        // Subgroup files also get the subgroup capability; every other file must validate
        // without it.
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let caps = caps | tessera::runtime::shaders::naga_capabilities(name);
        let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            path.display()
        );
        validator.validate(&module).err().map(|e| {
            format!(
                "{}: validation error:\n{}",
                path.display(),
                e.emit_to_string(source)
            )
        })
    }
}
