//! Parses and validates every WGSL file in `shaders/` with naga, without a GPU. The directory
//! is listed at run time, so a new shader file is covered without touching this test.

use std::path::Path;

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
    for path in &entries {
        let source = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!(
                    "{}: parse error:\n{}",
                    path.display(),
                    e.emit_to_string(&source)
                ));
                continue;
            }
        };
        // Subgroup files get the subgroup capability; every other file must validate without.
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            tessera::runtime::shaders::naga_capabilities(name),
        );
        if let Err(e) = validator.validate(&module) {
            failures.push(format!(
                "{}: validation error:\n{}",
                path.display(),
                e.emit_to_string(&source)
            ));
        }
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            path.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
