//! Bad input and broken files: exit 2 or 3 with a message naming the
//! problem, nothing written, and commands that do not need the broken file
//! keep working.

use crate::common::TestEnv;

const BAD_NAMES: &[&str] =
    &["../x", "a/b", "", "bad\u{1b}[31mname", "tab\there", "nul\u{0}", ".hidden", "-flag", "a\\b"];

fn long_name() -> String {
    "x".repeat(65)
}

#[test]
fn invalid_names_are_refused_before_anything_is_written() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "ok"]).success();
    let tip = env.tip();
    let long = long_name();
    let mut names: Vec<&str> = BAD_NAMES.iter().copied().filter(|n| !n.contains('\0')).collect();
    names.push(&long);
    for name in names {
        for args in [
            // `--` so that names starting with '-' reach orc rather than clap.
            vec!["ws", "create", "--json", "--", name],
            vec!["t", "add", "--json", "--", name, "title"],
            vec!["a", "register", "--json", "--", name],
            vec!["t", "next", "--json", "--", "ok", name],
            vec!["a", "heartbeat", "--json", "--", name],
        ] {
            let run = env.orc(&args).code(2);
            assert_eq!(run.error_kind(), "invalid_name", "{args:?}: {run}");
        }
        let human = env.orc(&["ws", "create", "--", name]).code(2);
        assert!(human.stderr.starts_with("error: invalid workstream name"), "{human}");
        assert!(!human.stderr.contains('\u{1b}'), "control characters are escaped: {human:?}");
    }
    assert_eq!(env.tip(), tip, "the branch is unchanged");
    let ls = env.git(&["ls-tree", "-r", "--name-only", "orc"]);
    assert!(!ls.contains(".."), "{ls}");
}

#[test]
fn names_that_look_like_task_ids_are_reserved() {
    let env = TestEnv::new();
    let run = env.orc(&["ws", "create", "t-api", "--json"]).code(2);
    assert_eq!(run.error_kind(), "invalid_name");
}

#[test]
fn unknown_and_ambiguous_ids() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let mut ids = Vec::new();
    // 33 ids over a 32-letter alphabet: two share their first character.
    for i in 0..33 {
        ids.push(env.add_task("w", &format!("task {i}"), &[]));
    }
    let tip = env.tip();
    let unknown = env.orc(&["t", "show", "t-zzzzzzzzzz", "--json"]).code(2);
    assert_eq!(unknown.error_kind(), "not_found");
    let human = env.orc(&["t", "complete", "t-zzzzzzzzzz"]).code(2);
    assert!(human.stderr.contains("no task matches t-zzzzzzzzzz"), "{human}");
    let bogus = env.orc(&["t", "show", "t-!!", "--json"]).code(2);
    assert_eq!(bogus.error_kind(), "invalid_id");

    ids.sort();
    let shared = ids.windows(2).find(|w| w[0][..3] == w[1][..3]).expect("pigeonhole");
    let ambiguous = env.orc(&["t", "claim", &shared[0][..3], "agent-1", "--json"]).code(2);
    assert_eq!(ambiguous.error_kind(), "ambiguous_id");
    let candidates = ambiguous.json()["error"]["candidates"].clone();
    assert!(candidates.as_array().unwrap().iter().any(|c| c == shared[0].as_str()), "{ambiguous}");
    let wrong_ws = env.orc(&["ws", "create", "other"]).success();
    drop(wrong_ws);
    let mismatch = env.orc(&["t", "complete", "other", &ids[0], "--json"]).code(2);
    assert_eq!(mismatch.error_kind(), "wrong_workstream");
    assert_ne!(env.tip(), tip, "only `ws create other` wrote");
}

#[test]
fn usage_errors_exit_2_and_speak_json_when_asked() {
    let env = TestEnv::new();
    let run = env.orc(&["t", "frobnicate", "--json"]).code(2);
    assert_eq!(run.error_kind(), "usage");
    env.orc(&["t", "add", "w"]).code(2);
    let bad_priority = env.orc(&["ws", "create", "w", "desc", "12", "--json"]).code(2);
    assert_eq!(bad_priority.error_kind(), "invalid_input");
    let overview = env.orc(&[]).success();
    assert!(overview.stdout.contains("orc init"), "{overview}");
}

#[test]
fn a_broken_task_file_is_named_and_only_blocks_what_needs_it() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let good = env.add_task("w", "good", &[]);
    let bad = env.add_task("w", "bad", &[]);
    let bad_path = format!("workstreams/w/tasks/{}/{}/{bad}.toml", &bad[2..3], &bad[3..4]);
    let original = env.show(&bad_path);
    let wrong_type = original.replace("priority = 3", "priority = \"high\"");
    env.edit_branch_file(&bad_path, &wrong_type);
    let line = wrong_type.lines().position(|l| l.starts_with("priority")).unwrap() + 1;
    let tip = env.tip();

    let show = env.orc(&["t", "show", &bad, "--json"]).code(3);
    assert_eq!(show.error_kind(), "broken_file");
    let message = show.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.starts_with(&format!("{bad_path}:{line}: ")), "{message}");
    let claim = env.orc(&["t", "claim", &bad, "agent-1"]).code(3);
    assert!(claim.stderr.contains(&bad_path), "{claim}");
    assert_eq!(env.tip(), tip, "nothing written");

    // Everything that does not need the file still works.
    env.orc(&["t", "show", &good]).success();
    let list = env.orc(&["t", "list", "--json"]).success();
    assert_eq!(list.json().as_array().unwrap().len(), 1);
    assert!(list.stderr.contains(&bad_path) && list.stderr.contains("orc doctor"), "{list}");
    env.orc(&["status"]).success();
    let next = env.orc(&["t", "next", "w", "agent-1", "--json"]).success().json();
    assert_eq!(next["id"], good.as_str());
    env.orc(&["t", "add", "w", "more"]).success();

    let doctor = env.orc(&["doctor"]).code(3);
    assert!(doctor.stdout.contains(&format!("error: {bad_path}:{line}:")), "{doctor}");

    // Bad TOML syntax is named by line too; restoring the file heals it.
    env.edit_branch_file(&bad_path, "id = \"oops\nstatus = \"open\"\n");
    let syntax = env.orc(&["t", "show", &bad, "--json"]).code(3);
    assert!(syntax.json()["error"]["message"].as_str().unwrap().starts_with(&format!("{bad_path}:1:")), "{syntax}");
    env.edit_branch_file(&bad_path, &original);
    env.orc(&["t", "show", &bad]).success();
    env.orc(&["doctor"]).success();
}

/// A broken orc.toml is reported wherever it matters and never silently
/// replaced by defaults: operations that need the settings (a claim judges
/// leases) refuse naming the file, the others go ahead, reads warn.
#[test]
fn a_broken_orc_toml_is_reported_and_stops_only_what_needs_it() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    env.edit_branch_file("orc.toml", "schema = 1\nlease = \"soon\"\n");
    let id = env.orc(&["t", "add", "w", "still works"]).success().stdout.trim().to_string();
    let claim = env.orc(&["t", "claim", &id, "agent-1", "--json"]).code(3);
    assert_eq!(claim.error_kind(), "broken_file");
    assert!(claim.json()["error"]["message"].as_str().unwrap().starts_with("orc.toml"), "{claim}");
    let shown = env.orc(&["t", "show", &id]).success();
    assert!(shown.stderr.contains("warning: orc.toml") && shown.stderr.contains("default settings"), "{shown}");
    let doctor = env.orc(&["doctor", "--json"]).code(3).json();
    let text = doctor["problems"].to_string();
    assert!(text.contains("orc.toml") && text.contains("lease"), "{doctor}");
}

#[test]
fn a_broken_agent_file_does_not_stop_its_agent() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "x", &[]);
    env.orc(&["a", "register", "agent-1"]).success();
    env.edit_branch_file("agents/agent-1.toml", "role = [\n");
    env.orc(&["t", "claim", &id, "agent-1"]).success();
    let list = env.orc(&["a", "list"]).success();
    assert!(list.stderr.contains("agents/agent-1.toml"), "{list}");
}

#[test]
fn doctor_names_setup_problems_with_their_fix() {
    let env = TestEnv::new();
    let doctor = env.orc(&["doctor"]).success();
    assert!(doctor.stdout.contains("fix: orc init"), "{doctor}");
    assert!(doctor.stdout.contains("fix: git config orc.agent"), "{doctor}");
    env.git(&["config", "orc.remote", "nowhere"]);
    let broken = env.orc(&["doctor"]).code(3);
    assert!(broken.stdout.contains("git remote add nowhere"), "{broken}");
}

#[test]
fn outside_a_repository_is_an_environment_error() {
    let env = TestEnv::new();
    let outside = env.root.join("plain");
    std::fs::create_dir_all(&outside).unwrap();
    let run = env.orc_in(&outside, &["status", "--json"]);
    assert_eq!(run.code, 3, "{run}");
    assert_eq!(run.error_kind(), "not_a_repository");
}

#[test]
fn an_oversized_file_is_refused_unread() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let good = env.add_task("w", "good", &[]);
    let huge = env.add_task("w", "huge", &[]);
    let path = format!("workstreams/w/tasks/{}/{}/{huge}.toml", &huge[2..3], &huge[3..4]);
    let padding = format!("# {}\n", "x".repeat(300 * 1024));
    env.edit_branch_file(&path, &(env.show(&path) + &padding));
    let shown = env.orc(&["t", "show", &huge, "--json"]).code(3);
    assert_eq!(shown.error_kind(), "broken_file");
    assert!(shown.json()["error"]["message"].as_str().unwrap().contains("limit"), "{shown}");
    let listed = env.orc(&["t", "list", "--json"]).success();
    assert_eq!(listed.json()[0]["id"], good.as_str());
    assert!(listed.stderr.contains(&path), "{listed}");
}

/// Issue 13: reftable repositories (git 3.0's default) stopped every command
/// with libgit2's "unsupported extension name"; orc says what it is and how
/// to get a repository it can work in, and works in the files format.
#[test]
fn a_reftable_repository_is_refused_with_the_fix_and_a_files_clone_works() {
    let env = TestEnv::new();
    let reftable = env.root.join("reftable");
    env.git_in(&env.root, &["init", "-q", "--ref-format=reftable", reftable.to_str().unwrap()]);
    env.git_in(
        &reftable,
        &["-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x"],
    );
    let refused = env.orc_in(&reftable, &["status", "--json"]).code(3);
    assert_eq!(refused.error_kind(), "unsupported_repository");
    let hint = refused.json()["error"]["hint"].as_str().unwrap().to_string();
    assert!(hint.contains("git clone --ref-format=files"), "{hint}");
    let files = env.root.join("files");
    env.git_in(&env.root, &["clone", "-q", "--ref-format=files", reftable.to_str().unwrap(), files.to_str().unwrap()]);
    env.orc_in(&files, &["ws", "create", "w"]).success();
    env.orc_in(&files, &["status"]).success();
}
