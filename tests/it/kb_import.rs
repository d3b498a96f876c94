//! `orc kb import <dir>`: a folder of Markdown becomes topics in one commit;
//! a bad file stops the import before anything is written.

use crate::common::TestEnv;

fn write(path: &std::path::Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_folder_of_markdown_becomes_topics_in_one_commit() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let notes = env.root.join("notes");
    write(&notes.join("design.md"), "# Design\n");
    write(&notes.join("services/auth.md"), "tokens rotate daily\n");
    write(&notes.join("services/readme.txt"), "not markdown\n");
    write(&notes.join(".hidden/secret.md"), "skipped\n");
    write(&notes.join(".draft.md"), "skipped too\n");
    let before: u32 = env.git(&["rev-list", "--count", "orc"]).parse().unwrap();
    let imported = env.orc(&["kb", "import", notes.to_str().unwrap(), "--json"]).success().json();
    let names: Vec<&str> = imported.as_array().unwrap().iter().map(|t| t["topic"].as_str().unwrap()).collect();
    assert_eq!(names, ["design", "services/auth"]);
    let after: u32 = env.git(&["rev-list", "--count", "orc"]).parse().unwrap();
    assert_eq!(after, before + 1, "one operation, one commit");
    assert_eq!(env.orc(&["kb", "read", "services/auth"]).success().stdout, "tokens rotate daily\n");
    let human = env.orc(&["kb", "import", notes.to_str().unwrap()]).success().stdout;
    assert!(human.starts_with("imported 2 topic(s) from "), "{human}");
    let trailer = env.git(&["log", "-1", "--format=%B", "orc"]);
    assert!(trailer.contains(r#""op":"kb.import""#) && trailer.contains(r#""bytes":9"#), "{trailer}");
}

#[test]
fn a_bad_file_stops_the_import_and_nothing_is_written() {
    let env = TestEnv::new();
    env.orc(&["init"]).success();
    let tip = env.tip();
    let notes = env.root.join("notes");
    write(&notes.join("good.md"), "fine\n");
    write(&notes.join("bad name!.md"), "the name is not a topic\n");
    let refused = env.orc(&["kb", "import", notes.to_str().unwrap(), "--json"]).code(2);
    assert_eq!(refused.error_kind(), "invalid_name");
    assert!(refused.json()["error"]["path"].as_str().unwrap().ends_with("bad name!.md"), "{refused}");
    assert_eq!(env.tip(), tip, "nothing written");

    std::fs::remove_file(notes.join("bad name!.md")).unwrap();
    std::fs::write(notes.join("binary.md"), [0xff, 0xfe, 0x00]).unwrap();
    let refused = env.orc(&["kb", "import", notes.to_str().unwrap()]).code(2);
    assert!(refused.stderr.contains("binary.md is not UTF-8"), "{refused}");
    assert_eq!(env.tip(), tip);

    let empty = env.root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let refused = env.orc(&["kb", "import", empty.to_str().unwrap(), "--json"]).code(2);
    assert_eq!(refused.error_kind(), "invalid_input");
    let missing = env.orc(&["kb", "import", env.root.join("nope").to_str().unwrap(), "--json"]).code(2);
    assert_eq!(missing.error_kind(), "not_found");
}
