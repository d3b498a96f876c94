//! The dependency direction the module docs claim, checked on the source:
//! front ends (`cli`, `hooks`, `serve`, `work`) → `api` → {`ops`, `read`, `sync`} → {`model`,
//! `store`}; `render` reads, never writes; `model` and `store` know
//! nothing of each other; only `store` names git2 or runs `git`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use besides itself and `error`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("store", &[]),
    ("session", &["model"]),
    ("read", &["model", "store", "session"]),
    ("render", &["model", "read"]),
    ("ops", &["model", "store", "read", "render", "session"]),
    ("sync", &["model", "store", "read", "ops", "session"]),
    ("api", &["model", "store", "read", "ops", "sync", "render", "session"]),
    ("hooks", &["api", "model", "store", "ops", "session"]),
    ("work", &["api", "model", "ops", "session", "store"]),
    ("serve", &["api", "model", "session"]),
    ("mcp", &["api", "model", "ops", "session"]),
    ("cli", &["api", "hooks", "serve", "mcp", "model", "store", "read", "ops", "render", "session", "work"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/read/board.rs` → `read`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "error")).then(|| name.to_string())
}

/// The code of a file without its `#[cfg(test)]` module and comments.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn crate_modules_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            used.insert(name);
        }
    }
    used
}

#[test]
fn modules_depend_only_in_the_documented_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let Some(may_use) = allowed.get(module.as_str()) else {
            violations.push(format!("{}: module `{module}` is not in the architecture table", file.display()));
            continue;
        };
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for used in crate_modules_used(&code) {
            if used != module && used != "error" && !may_use.contains(&used.as_str()) {
                violations.push(format!("{}: `{module}` uses `crate::{used}`", file.display()));
            }
        }
        let outside_store = module != "store";
        if outside_store && code.contains("git2::") {
            violations.push(format!("{}: names git2 outside store", file.display()));
        }
        if outside_store && (code.contains("Command::new(\"git\")") || code.contains("Path::new(\"git\")")) {
            violations.push(format!("{}: runs git outside store", file.display()));
        }
        if module == "cli" && (code.contains("Engine::new") || code.contains("crate::sync")) {
            violations.push(format!("{}: the CLI builds an engine or syncs itself; call the api", file.display()));
        }
    }
    assert!(violations.is_empty(), "dependency rules broken:\n{}", violations.join("\n"));
}

#[test]
fn the_table_sees_every_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';')))
        .filter(|m| *m != "error")
        .collect();
    let listed: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    assert_eq!(declared, listed, "src/lib.rs and the architecture table list different modules");
}

#[test]
fn the_checker_catches_an_upward_dependency() {
    let code = code_of("use crate::api::Repo;\n// crate::cli in a comment\nfn f() { crate::read::x(); }\n");
    assert_eq!(crate_modules_used(&code), BTreeSet::from(["api".to_string(), "read".to_string()]));
}
