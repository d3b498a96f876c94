//! The knowledge base end to end: the seed's quick start lines, exact round
//! trips through every input channel, size limits, topics that try to escape
//! `knowledge/`, and list/append/rm.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;

use crate::common::{Run, TestEnv};

const MIB: usize = 1024 * 1024;
const LIMIT: usize = 4 * MIB;

/// Runs orc with `input` on its stdin.
fn orc_stdin(env: &TestEnv, args: &[&str], input: &[u8]) -> Run {
    let mut child = env
        .orc_command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orc");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // orc may stop reading early (too much input): a broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for orc");
    writer.join().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// The exact bytes of a file on the orc branch (`git show orc:<path>`).
#[track_caller]
fn branch_bytes(env: &TestEnv, path: &str) -> Vec<u8> {
    branch_bytes_at(env, "orc", path)
}

#[track_caller]
fn branch_bytes_at(env: &TestEnv, rev: &str, path: &str) -> Vec<u8> {
    let out = env.command("git", &env.repo).args(["show", &format!("{rev}:{path}")]).output().unwrap();
    assert!(out.status.success(), "git show {rev}:{path}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A file outside the repository holding `bytes`.
fn temp_file(env: &TestEnv, name: &str, bytes: &[u8]) -> PathBuf {
    let path = env.root.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `n` bytes of readable ASCII text, ending with a newline.
fn text_of_size(n: usize) -> String {
    let mut text = String::with_capacity(n + 64);
    let mut line = 0;
    while text.len() < n {
        text.push_str(&format!("line {line:07}: the quick brown fox jumps over the lazy dog\n"));
        line += 1;
    }
    text.truncate(n - 1);
    text.push('\n');
    text
}

#[track_caller]
fn read_json(env: &TestEnv, topic: &str) -> Value {
    env.orc(&["kb", "read", topic, "--json"]).success().json()
}

#[track_caller]
fn list_json(env: &TestEnv) -> Vec<Value> {
    env.orc(&["kb", "list", "--json"]).success().json().as_array().unwrap().clone()
}

/// Checks that a topic stores exactly `text`: on the branch and in `--json`.
#[track_caller]
fn assert_stored(env: &TestEnv, topic: &str, text: &str) {
    let on_branch = branch_bytes(env, &format!("knowledge/{topic}.md"));
    assert!(
        on_branch == text.as_bytes(),
        "{topic}: the branch holds {:?}, not {text:?}",
        String::from_utf8_lossy(&on_branch)
    );
    let json = read_json(env, topic);
    assert_eq!(json["text"].as_str(), Some(text), "{topic}: kb read --json");
    assert_eq!(json["size"].as_u64(), Some(text.len() as u64), "{topic}: size");
}

/// Checks that a topic holds exactly `text`: stored, and as printed by `kb read`.
#[track_caller]
fn assert_holds(env: &TestEnv, topic: &str, text: &str) {
    assert_stored(env, topic, text);
    let printed = env.orc(&["kb", "read", topic]).success().stdout;
    assert!(printed == text, "{topic}: `kb read` printed {printed:?} for the text {text:?}");
}

#[test]
fn seed_quick_start_lines_run_verbatim() {
    let env = TestEnv::new();
    let text = "Use REST for external, events for internal";
    let wrote = env.orc(&["kb", "write", "api-design", text]).success();
    assert!(wrote.stdout.contains("api-design"), "{wrote}");
    let read = env.orc(&["kb", "read", "api-design"]).success();
    // The seed printed the text with console.log: the text as one line.
    assert_eq!(read.stdout.strip_suffix('\n').unwrap_or(&read.stdout), text, "{read}");
    assert_eq!(read.stderr, "", "{read}");
    let json = read_json(&env, "api-design");
    assert_eq!(json["topic"], "api-design");
    assert_eq!(json["text"], text);
    assert_eq!(json["size"], text.len());
    assert_eq!(branch_bytes(&env, "knowledge/api-design.md"), text.as_bytes());
    let subjects = env.git(&["log", "--format=%s", "orc"]);
    assert!(subjects.lines().next().unwrap().contains("api-design"), "one commit for the write: {subjects}");
}

#[test]
fn unicode_text_round_trips_through_argument_file_and_stdin() {
    let env = TestEnv::new();
    let text = "# Grüße — 世界\r\n\
                Привет, мир. مرحبا بالعالم. שלום. नमस्ते. こんにちは 🌍\r\n\
                emoji: 🦀 👩\u{200d}👩\u{200d}👧 🇯🇵 👍🏽\r\n\
                combining: e\u{301} n\u{303} a\u{30a}\u{301} Z\u{351}\u{36b}\u{343}\r\n\
                \ttabbed, trailing spaces   \r\n\
                mixed endings\nlone CR\rend\r\n";
    env.orc(&["kb", "write", "unicode/arg", text]).success();
    let file = temp_file(&env, "unicode.md", text.as_bytes());
    env.orc(&["kb", "write", "unicode/file", "--file", file.to_str().unwrap()]).success();
    orc_stdin(&env, &["kb", "write", "unicode/stdin", "-"], text.as_bytes()).success();
    for topic in ["unicode/arg", "unicode/file", "unicode/stdin"] {
        assert_holds(&env, topic, text);
    }
    let listed = list_json(&env);
    let topics: Vec<&str> = listed.iter().map(|t| t["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, vec!["unicode/arg", "unicode/file", "unicode/stdin"]);
    assert!(listed.iter().all(|t| t["size"] == text.len()), "{listed:?}");

    // Appending through each channel keeps every byte too.
    let more = "ñ — 🦀\r\n";
    env.orc(&["kb", "append", "unicode/arg", more]).success();
    let more_file = temp_file(&env, "more.md", more.as_bytes());
    env.orc(&["kb", "append", "unicode/file", "--file", more_file.to_str().unwrap()]).success();
    orc_stdin(&env, &["kb", "append", "unicode/stdin", "-"], more.as_bytes()).success();
    for topic in ["unicode/arg", "unicode/file", "unicode/stdin"] {
        assert_holds(&env, topic, &format!("{text}{more}"));
    }
}

#[test]
fn read_prints_the_text_byte_for_byte_without_adding_a_newline() {
    let env = TestEnv::new();
    for (topic, text) in [
        ("one-line", "one line, no newline at the end"),
        ("two-lines", "first\nsecond"),
        ("crlf", "a\r\nb"),
        ("emoji", "🦀"),
    ] {
        env.orc(&["kb", "write", topic, text]).success();
        assert_holds(&env, topic, text);
    }
}

#[test]
fn a_megabyte_round_trips_through_a_file() {
    let env = TestEnv::new();
    for (topic, size) in [("big/decimal", 1_000_000), ("big/binary", MIB)] {
        let text = text_of_size(size);
        assert_eq!(text.len(), size);
        let file = temp_file(&env, &format!("{size}.md"), text.as_bytes());
        let wrote = env.orc(&["kb", "write", topic, "--file", file.to_str().unwrap(), "--json"]).success().json();
        assert_eq!(wrote["size"], size);
        assert_holds(&env, topic, &text);
    }
    let listed = list_json(&env);
    assert_eq!(listed[0]["topic"], "big/binary");
    assert_eq!(listed[0]["size"], MIB);
    assert_eq!(listed[1]["topic"], "big/decimal");
    assert_eq!(listed[1]["size"], 1_000_000);
}

#[test]
fn topics_that_escape_the_knowledge_folder_are_refused_and_nothing_is_written() {
    let env = TestEnv::new();
    env.orc(&["kb", "write", "ok", "fine\n"]).success();
    let tip = env.tip();
    let too_deep = "a/".repeat(8) + "a";
    let long_segment = "x".repeat(65);
    let too_long = vec!["x".repeat(60); 5].join("/");
    let bad: Vec<&str> = vec![
        "../x",
        "..",
        ".",
        "../../../../etc/passwd",
        "a/../b",
        "a/..",
        "a/./b",
        "./a",
        "/etc/passwd",
        "/x",
        "a//b",
        "a/",
        "/",
        "",
        ".hidden",
        "a/.git",
        ".git/config",
        ".meta/ok",
        "a\\b",
        "..\\x",
        "C:\\x",
        "C:x",
        "~/x",
        "a\nb",
        "a\tb",
        "a\rb",
        "bad\u{1b}[31mred",
        "a\u{7f}b",
        "-flag",
        "a b",
        "café",
        "a*",
        &too_deep,
        &long_segment,
        &too_long,
    ];
    for topic in &bad {
        for args in [
            vec!["kb", "write", "--json", "--", topic, "text"],
            vec!["kb", "append", "--json", "--", topic, "text"],
            vec!["kb", "read", "--json", "--", topic],
            vec!["kb", "rm", "--json", "--", topic],
        ] {
            let run = env.orc(&args).code(2);
            assert_eq!(run.error_kind(), "invalid_name", "{args:?}: {run}");
        }
        let stdin = orc_stdin(&env, &["kb", "write", "--json", "--", topic, "-"], b"from stdin");
        assert_eq!(stdin.code(2).error_kind(), "invalid_name");
        let human = env.orc(&["kb", "write", "--", topic, "text"]).code(2);
        assert!(human.stderr.starts_with("error: invalid topic"), "{human}");
        assert!(!human.stderr.contains('\u{1b}'), "control characters are escaped: {human:?}");
    }
    assert_eq!(env.tip(), tip, "the branch is unchanged");
    let files = env.git(&["ls-tree", "-r", "--name-only", "orc", "knowledge"]);
    assert_eq!(files, "knowledge/.meta/ok.toml\nknowledge/ok.md");
    assert_eq!(env.git(&["status", "--porcelain"]), "", "the working tree is untouched");
    assert!(!env.root.join("x").exists() && !env.repo.join("x").exists());
    // The good topic is still fine, and nested topics that stay inside work.
    assert_holds(&env, "ok", "fine\n");
    env.orc(&["kb", "write", "a.b/c_d/e-f", "nested"]).success();
    env.orc(&["kb", "write", &("a/".repeat(7) + "a"), "eight deep"]).success();
    assert_stored(&env, &("a/".repeat(7) + "a"), "eight deep");
    let topics: Vec<Value> = list_json(&env).iter().map(|t| t["topic"].clone()).collect();
    assert_eq!(topics, vec!["a.b/c_d/e-f", "a/a/a/a/a/a/a/a", "ok"]);
}

#[test]
fn over_size_text_is_refused_and_nothing_is_written() {
    let env = TestEnv::new();
    // Exactly the limit is fine.
    let at_limit = text_of_size(LIMIT);
    let file = temp_file(&env, "limit.md", at_limit.as_bytes());
    let wrote = env.orc(&["kb", "write", "limit", "--file", file.to_str().unwrap(), "--json"]).success().json();
    assert_eq!(wrote["size"], LIMIT);
    assert_eq!(read_json(&env, "limit")["text"].as_str().map(str::len), Some(LIMIT));
    env.orc(&["kb", "write", "small", "small text\n"]).success();
    let tip = env.tip();

    // One byte over, through a file and through stdin. (An argument cannot
    // carry 4 MiB: Linux caps one argument at 128 KiB.)
    let over = text_of_size(LIMIT + 1);
    let file = temp_file(&env, "over.md", over.as_bytes());
    for topic in ["new-topic", "small"] {
        let run = env.orc(&["kb", "write", topic, "--file", file.to_str().unwrap(), "--json"]).code(2);
        assert_eq!(run.error_kind(), "too_large", "{run}");
        let run = orc_stdin(&env, &["kb", "write", topic, "-", "--json"], over.as_bytes()).code(2);
        assert_eq!(run.error_kind(), "too_large", "{run}");
        let run = env.orc(&["kb", "append", topic, "--file", file.to_str().unwrap(), "--json"]).code(2);
        assert_eq!(run.error_kind(), "too_large", "{run}");
    }
    let human = env.orc(&["kb", "write", "new-topic", "--file", file.to_str().unwrap()]).code(2);
    assert!(human.stderr.starts_with("error: ") && human.stderr.contains("hint: "), "{human}");
    assert_eq!(env.tip(), tip, "nothing written by any refusal");
    assert_holds(&env, "small", "small text\n");

    // Appending past the limit is refused as well, and the topic keeps its text.
    let three = text_of_size(3 * MIB);
    let three_file = temp_file(&env, "three.md", three.as_bytes());
    env.orc(&["kb", "write", "growing", "--file", three_file.to_str().unwrap()]).success();
    let grown = env.tip();
    let half = temp_file(&env, "half.md", text_of_size(LIMIT - 3 * MIB + 1).as_bytes());
    let run = env.orc(&["kb", "append", "growing", "--file", half.to_str().unwrap(), "--json"]).code(2);
    assert_eq!(run.error_kind(), "too_large", "{run}");
    assert_eq!(env.tip(), grown, "nothing written by the refused append");
    assert_eq!(read_json(&env, "growing")["size"], 3 * MIB);
    // Exactly up to the limit is fine.
    let fits = temp_file(&env, "fits.md", text_of_size(LIMIT - 3 * MIB).as_bytes());
    let run = env.orc(&["kb", "append", "growing", "--file", fits.to_str().unwrap(), "--json"]).success();
    assert_eq!(run.json()["size"], LIMIT);

    // Text that is not UTF-8 is refused too.
    let latin1 = temp_file(&env, "latin1.md", b"caf\xe9\n");
    let before = env.tip();
    let run = env.orc(&["kb", "write", "latin1", "--file", latin1.to_str().unwrap(), "--json"]).code(2);
    assert_eq!(run.error_kind(), "invalid_input", "{run}");
    assert_eq!(env.tip(), before);

    let topics: Vec<String> = list_json(&env).iter().map(|t| t["topic"].as_str().unwrap().to_string()).collect();
    assert_eq!(topics, vec!["growing", "limit", "small"]);
    assert_holds(&env, "small", "small text\n");
}

#[test]
fn a_topic_below_an_existing_file_is_a_path_conflict() {
    let env = TestEnv::new();
    env.orc(&["kb", "write", "a", "the a topic\n"]).success();
    let tip = env.tip();
    // knowledge/a.md is a file: a topic `a.md/x` would need a folder of that
    // name, so folder segments may not end like orc's own files.
    for args in [vec!["kb", "write", "a.md/x", "below", "--json"], vec!["kb", "append", "a.md/x", "below", "--json"]] {
        let run = env.orc(&args).code(2);
        assert_eq!(run.error_kind(), "invalid_name", "{args:?}: {run}");
        assert!(run.json()["error"]["message"].as_str().unwrap().contains(".md"), "{run}");
    }
    assert_eq!(env.tip(), tip, "nothing written");
    assert_holds(&env, "a", "the a topic\n");

    // The other way round, made by hand on the host: a folder is in the way
    // of a topic's file. The write is refused and the folder kept.
    env.edit_branch_file("knowledge/b.md/notes.txt", "made by hand\n");
    let tip = env.tip();
    let run = env.orc(&["kb", "write", "b", "would replace a folder", "--json"]).code(2);
    assert_eq!(run.error_kind(), "path_conflict", "{run}");
    assert_eq!(env.tip(), tip, "nothing written");
    assert_eq!(env.show("knowledge/b.md/notes.txt"), "made by hand");
    let human = env.orc(&["kb", "write", "b", "again"]).code(2);
    assert!(human.stderr.starts_with("error: ") && human.stderr.contains("hint: "), "{human}");
    let topics: Vec<Value> = list_json(&env).iter().map(|t| t["topic"].clone()).collect();
    assert_eq!(topics, vec!["a"]);
}

#[test]
fn list_shows_who_wrote_what_when_and_nests() {
    let env = TestEnv::new();
    let empty = env.orc(&["kb", "list", "--json"]).success();
    assert_eq!(empty.json(), serde_json::json!([]));
    env.orc_with(&[("ORC_NOW", "2026-05-01T12:00:00Z")], &["kb", "write", "api-design", "REST outside"]).success();
    env.orc(&["kb", "write", "services/auth", "tokens expire after 1h\n", "--agent", "agent-7"]).success();
    env.orc_with(&[("ORC_AGENT", "agent-8")], &["kb", "write", "services/db", "postgres 16"]).success();

    let listed = list_json(&env);
    let topics: Vec<&str> = listed.iter().map(|t| t["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, vec!["api-design", "services/auth", "services/db"]);
    let by: Vec<&str> = listed.iter().map(|t| t["updated_by"].as_str().unwrap()).collect();
    assert_eq!(by, vec!["Test Person", "agent-7", "agent-8"], "the git user when no agent is set");
    let sizes: Vec<u64> = listed.iter().map(|t| t["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, vec![12, 23, 11]);
    assert_eq!(listed[0]["updated_at"], "2026-05-01T12:00:00Z");
    assert_eq!(listed[0]["created_at"], "2026-05-01T12:00:00Z");
    assert_eq!(listed[0]["created_by"], "Test Person");
    let now = chrono::Utc::now();
    for topic in &listed[1..] {
        let at: chrono::DateTime<chrono::Utc> = topic["updated_at"].as_str().unwrap().parse().unwrap();
        assert!((now - at).num_seconds().abs() < 120, "{topic}");
        assert!(topic.get("text").is_none(), "no text in listings: {topic}");
    }

    let human = env.orc(&["kb", "list"]).success().stdout;
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 3, "{human}");
    assert!(
        lines[0].starts_with("api-design") && lines[0].contains("12 B") && lines[0].contains("Test Person"),
        "{human}"
    );
    assert!(lines[1].starts_with("services/auth") && lines[1].contains("agent-7"), "{human}");
    assert!(lines[2].starts_with("services/db") && lines[2].contains("agent-8"), "{human}");

    // Files lie where the docs say, browsable on the git host.
    let files = env.git(&["ls-tree", "-r", "--name-only", "orc", "knowledge"]);
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        vec![
            "knowledge/.meta/api-design.toml",
            "knowledge/.meta/services/auth.toml",
            "knowledge/.meta/services/db.toml",
            "knowledge/api-design.md",
            "knowledge/services/auth.md",
            "knowledge/services/db.md",
        ]
    );
    // Each write is logged, under the writer.
    let writes = env.orc(&["events", "--type", "kb.write", "--since", "2026-01-01", "--json"]).success().json();
    let writers: Vec<&str> = writes.as_array().unwrap().iter().map(|e| e["agent"].as_str().unwrap()).collect();
    assert_eq!(writers, vec!["Test-Person", "agent-7", "agent-8"]);
}

#[test]
fn append_adds_text_with_a_newline_in_between_when_needed() {
    let env = TestEnv::new();
    // Appending creates a topic, with nothing put in front.
    env.orc_with(&[("ORC_NOW", "2026-05-01T12:00:00Z")], &["kb", "append", "notes", "first"]).success();
    assert_stored(&env, "notes", "first");
    env.orc(&["kb", "append", "notes", "second", "--agent", "agent-2"]).success();
    assert_stored(&env, "notes", "first\nsecond");
    env.orc(&["kb", "write", "lines", "line 1\n"]).success();
    env.orc(&["kb", "append", "lines", "line 2\n"]).success();
    orc_stdin(&env, &["kb", "append", "lines", "-"], b"line 3\n").success();
    // A Markdown list item starts with '-': `--` passes it as text.
    env.orc(&["kb", "append", "lines", "--", "- item"]).success();
    assert_stored(&env, "lines", "line 1\nline 2\nline 3\n- item");

    // The creator stays; the last writer and the size follow the appends.
    let notes = read_json(&env, "notes");
    assert_eq!(notes["created_by"], "Test Person");
    assert_eq!(notes["created_at"], "2026-05-01T12:00:00Z");
    assert_eq!(notes["updated_by"], "agent-2");
    assert_ne!(notes["updated_at"], "2026-05-01T12:00:00Z");
    let listed = list_json(&env);
    let notes_listed = listed.iter().find(|t| t["topic"] == "notes").unwrap();
    assert_eq!(notes_listed["size"], "first\nsecond".len());
    assert_eq!(notes_listed["updated_by"], "agent-2");

    // `kb write` replaces instead.
    env.orc(&["kb", "write", "notes", "replaced\n"]).success();
    assert_holds(&env, "notes", "replaced\n");
}

#[test]
fn rm_removes_a_topic_and_git_history_keeps_its_text() {
    let env = TestEnv::new();
    env.orc(&["kb", "write", "old-plan", "the plan we dropped\n"]).success();
    env.orc(&["kb", "write", "services/auth", "auth\n"]).success();
    env.orc(&["kb", "write", "services/db", "db\n"]).success();
    let removed = env.orc(&["kb", "rm", "old-plan", "--json"]).success().json();
    assert_eq!(removed["topic"], "old-plan");

    let gone = env.orc(&["kb", "read", "old-plan", "--json"]).code(2);
    assert_eq!(gone.error_kind(), "not_found");
    let human = env.orc(&["kb", "read", "old-plan"]).code(2);
    assert!(human.stderr.contains("old-plan") && human.stderr.contains("orc kb list"), "{human}");
    let topics: Vec<Value> = list_json(&env).iter().map(|t| t["topic"].clone()).collect();
    assert_eq!(topics, vec!["services/auth", "services/db"]);
    let files = env.git(&["ls-tree", "-r", "--name-only", "orc", "knowledge"]);
    assert!(!files.contains("old-plan"), "text and metadata are both gone: {files}");
    let again = env.orc(&["kb", "rm", "old-plan", "--json"]).code(2);
    assert_eq!(again.error_kind(), "not_found");

    // The history still has the write, the removal, and the text.
    let subjects = env.git(&["log", "--all", "--format=%s", "orc"]);
    assert!(subjects.lines().any(|s| s.contains("write") && s.contains("old-plan")), "{subjects}");
    let last = env.git(&["log", "-1", "--format=%s", "orc"]);
    assert!(last.contains("remove") && last.contains("old-plan"), "the removal is the last commit: {last}");
    let touching = env.git(&["log", "--format=%H", "orc", "--", "knowledge/old-plan.md"]);
    let commits: Vec<&str> = touching.lines().collect();
    assert_eq!(commits.len(), 2, "the write and the removal: {touching}");
    let old = branch_bytes_at(&env, commits[1], "knowledge/old-plan.md");
    assert_eq!(old, b"the plan we dropped\n");
    let removals = env.orc(&["events", "--type", "kb.rm", "--json"]).success().json();
    assert_eq!(removals[0]["data"]["topic"], "old-plan");

    // Removing the last topic of a folder removes the folder.
    env.orc(&["kb", "rm", "services/auth"]).success();
    env.orc(&["kb", "rm", "services/db"]).success();
    assert_eq!(list_json(&env), Vec::<Value>::new());
    assert_eq!(env.git(&["ls-tree", "-r", "--name-only", "orc", "knowledge"]), "");
}

#[test]
fn knowledge_edited_by_hand_on_the_branch_is_listed_as_it_is() {
    let env = TestEnv::new();
    env.orc(&["kb", "write", "edited", "short\n", "--agent", "agent-1"]).success();
    // Someone edits the Markdown on the git host, and adds a topic there.
    let longer = "a much longer text, edited by hand on the git host\n";
    env.edit_branch_file("knowledge/edited.md", longer);
    env.edit_branch_file("knowledge/by-hand.md", "added by hand\n");

    assert_holds(&env, "edited", longer);
    assert_holds(&env, "by-hand", "added by hand\n");
    let added = read_json(&env, "by-hand");
    assert_eq!(added["created_by"], Value::Null, "no metadata: {added}");
    assert_eq!(added["updated_by"], Value::Null, "no metadata: {added}");

    let listed = list_json(&env);
    let topics: Vec<&str> = listed.iter().map(|t| t["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, vec!["by-hand", "edited"]);
    assert_eq!(listed[0]["size"], "added by hand\n".len());
    // `kb list` and `kb read` agree on the size of the text.
    assert_eq!(
        listed[1]["size"],
        read_json(&env, "edited")["size"],
        "kb list reports the size in the metadata, not of the text: {:?}",
        listed[1]
    );
    assert_eq!(listed[1]["size"], longer.len());
}
