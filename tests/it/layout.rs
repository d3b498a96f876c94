//! The suite's own layout: every `.rs` file under `tests/` is compiled into a
//! test binary. A file nothing declares is never built, so its tests never
//! run and never fail, and nobody notices.

use std::path::{Path, PathBuf};

/// The module names a file declares with `mod name;` (any visibility).
fn declared_modules(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("pub(crate) ").or_else(|| line.strip_prefix("pub ")).unwrap_or(line);
            line.strip_prefix("mod ")?.strip_suffix(';').map(|name| name.trim().to_string())
        })
        .collect()
}

/// The entries of a folder, sorted, so the report is stable.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn is_rust(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "rs")
}

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in entries(dir) {
        if is_rust(&path) {
            found.push(path);
        } else if path.is_dir() {
            found.extend(rust_files(&path));
        }
    }
    found
}

/// What the layout check found in one crate.
struct Layout {
    /// The files it saw compiled into the suite, relative to the crate.
    compiled: Vec<String>,
    /// One line per file that is not, naming the fix.
    problems: Vec<String>,
}

impl Layout {
    /// Checks the crate at `root`: `tests/it/main.rs` declares every module
    /// of `tests/it` (folders through their `mod.rs` or `<name>.rs`), and any
    /// other `.rs` file under `tests/` is a `[[test]]` of Cargo.toml.
    fn check(root: &Path) -> Self {
        let mut layout = Self { compiled: Vec::new(), problems: Vec::new() };
        let tests = root.join("tests");
        let it = tests.join("it");
        layout.compiled.push(shown(root, &it.join("main.rs")));
        layout.modules(root, &it, &it.join("main.rs"));

        let targets = test_targets(root);
        let mut outside = Vec::new();
        for path in entries(&tests) {
            if is_rust(&path) {
                outside.push(path);
            } else if path.is_dir() && path != it {
                outside.extend(rust_files(&path));
            }
        }
        for path in outside {
            let relative = shown(root, &path);
            if targets.contains(&relative) {
                layout.compiled.push(relative);
            } else {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                layout.problems.push(format!(
                    "{relative} is outside the integration suite: move it to tests/it/{name}.rs and add \
                     `mod {name};` to tests/it/main.rs (one test binary), or list it as a [[test]] in Cargo.toml"
                ));
            }
        }
        layout
    }

    /// Checks that `parent` (the file of the module that owns `dir`)
    /// declares every `.rs` file and every folder of `.rs` files in `dir`.
    fn modules(&mut self, root: &Path, dir: &Path, parent: &Path) {
        let declared = declared_modules(parent);
        for path in entries(dir) {
            let not_code = if path.is_dir() { rust_files(&path).is_empty() } else { !is_rust(&path) };
            if path == parent || not_code {
                continue;
            }
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !declared.contains(&name) {
                let what = if path.is_dir() {
                    format!("{}/ holds Rust files that are", shown(root, &path))
                } else {
                    format!("{} is", shown(root, &path))
                };
                self.problems.push(format!("{what} not compiled: add `mod {name};` to {}", shown(root, parent)));
            } else if path.is_file() {
                self.compiled.push(shown(root, &path));
            } else if dir.join(format!("{name}.rs")).is_file() {
                // `<name>.rs` beside the folder is its module file.
                self.modules(root, &path, &dir.join(format!("{name}.rs")));
            } else if path.join("mod.rs").is_file() {
                self.compiled.push(shown(root, &path.join("mod.rs")));
                self.modules(root, &path, &path.join("mod.rs"));
            } else {
                self.problems
                    .push(format!("{}/ has no module file: add {name}/mod.rs declaring its files", shown(root, &path)));
            }
        }
    }
}

/// The `path` of every `[[test]]` target in Cargo.toml.
fn test_targets(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap_or_else(|e| panic!("Cargo.toml: {e}"));
    let Some(tests) = manifest.get("test").and_then(|t| t.as_array()) else { return Vec::new() };
    tests.iter().filter_map(|t| t.get("path")?.as_str().map(str::to_string)).collect()
}

/// A path relative to the crate, for messages.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

#[test]
fn every_test_file_is_compiled_into_the_suite() {
    let layout = Layout::check(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(layout.problems.is_empty(), "test files that never run:\n{}", layout.problems.join("\n"));
    // The check saw this very file: it did not pass by looking elsewhere.
    assert!(layout.compiled.contains(&"tests/it/layout.rs".to_string()), "{:?}", layout.compiled);
}

#[test]
fn the_layout_check_names_each_stray_file_and_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("Cargo.toml", "[package]\nname = \"x\"\n\n[[test]]\nname = \"it\"\npath = \"tests/it/main.rs\"\n\n[[test]]\nname = \"listed\"\npath = \"tests/listed.rs\"\n");
    write("tests/it/main.rs", "mod common;\npub mod area;\n// mod forgotten;\nmod nested;\n");
    write("tests/it/common.rs", "");
    write("tests/it/area.rs", "");
    write("tests/it/forgotten.rs", "");
    write("tests/it/nested/mod.rs", "mod inner;\n");
    write("tests/it/nested/inner.rs", "");
    write("tests/it/nested/lost.rs", "");
    write("tests/it/loose/x.rs", "");
    write("tests/it/snapshots/help.txt", "not rust");
    write("tests/listed.rs", "");
    write("tests/stray.rs", "");

    let layout = Layout::check(root);
    assert_eq!(
        layout.problems,
        [
            "tests/it/forgotten.rs is not compiled: add `mod forgotten;` to tests/it/main.rs",
            "tests/it/loose/ holds Rust files that are not compiled: add `mod loose;` to tests/it/main.rs",
            "tests/it/nested/lost.rs is not compiled: add `mod lost;` to tests/it/nested/mod.rs",
            "tests/stray.rs is outside the integration suite: move it to tests/it/stray.rs and add `mod stray;` to \
             tests/it/main.rs (one test binary), or list it as a [[test]] in Cargo.toml",
        ]
    );
    assert_eq!(
        layout.compiled,
        [
            "tests/it/main.rs",
            "tests/it/area.rs",
            "tests/it/common.rs",
            "tests/it/nested/mod.rs",
            "tests/it/nested/inner.rs",
            "tests/listed.rs"
        ]
    );
}
