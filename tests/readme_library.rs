//! README's library example is the crate-level doctest of `src/lib.rs` (which `cargo test --doc` runs):
//! this test fails when the README block and the doctest (without its hidden `# ` lines) differ, so the
//! example users copy is one that compiles and passes.

use std::path::Path;

/// The lines of the first ```rust block after `## Library` in README.md.
fn readme_block() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &text[text
        .find("\n## Library\n")
        .expect("README has a Library section")..];
    let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let end = start + section[start..].find("\n```").unwrap();
    section[start..end].lines().map(str::to_string).collect()
}

/// The lines of the first code block of `src/lib.rs`'s `//!` docs, hidden lines left out.
fn doctest_block() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let docs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    let start = docs.iter().position(|l| *l == "```").expect("a doctest") + 1;
    let end = start + docs[start..].iter().position(|l| *l == "```").unwrap();
    docs[start..end]
        .iter()
        .filter(|l| !(l.starts_with("# ") || **l == "#"))
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn the_readme_library_example_is_the_crate_doctest() {
    let readme = readme_block();
    let doctest = doctest_block();
    assert!(readme.len() > 10, "{readme:?}");
    for (i, (r, d)) in readme.iter().zip(&doctest).enumerate() {
        assert_eq!(
            r,
            d,
            "line {} of the README example differs from src/lib.rs",
            i + 1
        );
    }
    assert_eq!(
        readme.len(),
        doctest.len(),
        "README and src/lib.rs examples differ in length"
    );
}
