//! The first five minutes: the demo, the primer, help and hints.

use crate::common::TestEnv;

#[test]
fn the_demo_finishes_every_task_once_and_leaves_a_dashboard() {
    let env = TestEnv::new();
    let dir = env.root.join("demo");
    let run = env
        .orc_in(&env.root, &["demo", "--agents", "4", "--tasks", "40", "--dir", dir.to_str().unwrap(), "--json"])
        .success();
    let summary = run.json();
    assert_eq!(summary["tasks"], 40);
    assert_eq!(summary["done"], 40, "{summary}");
    assert_eq!(summary["double_claims"], 0);
    let done_by: u64 = summary["done_by"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(done_by, 40, "every task done exactly once: {summary}");
    assert!(summary["lock_acquisitions"].as_u64().unwrap() > 0 && summary["events"].as_u64().unwrap() > 40);
    let page = std::path::PathBuf::from(summary["dashboard"].as_str().unwrap());
    assert!(std::fs::read_to_string(&page).unwrap().contains("id=\"count-done\">40<"), "the dashboard shows the work");
    assert!(run.stderr.contains("[demo] 40/40 tasks done"), "progress is shown: {}", run.stderr);
    // Each agent worked in its own clone, through the remote.
    let on_remote =
        env.git_in(&env.root, &["--git-dir", dir.join("remote.git").to_str().unwrap(), "log", "--format=%an", "orc"]);
    assert!((1..=4).all(|i| on_remote.contains(&format!("agent-{i}"))), "{on_remote}");
}

#[test]
fn the_demo_cleans_up_unless_asked_to_keep() {
    let env = TestEnv::new();
    let summary = env.orc_in(&env.root, &["demo", "--agents", "2", "--tasks", "4", "--json"]).success().json();
    assert_eq!(summary["done"], 4);
    assert_eq!(summary["kept"], false);
    assert!(!std::path::Path::new(summary["dir"].as_str().unwrap()).exists(), "nothing left behind");
    for bad in [["--agents", "0"], ["--tasks", "0"], ["--agents", "33"]] {
        let run = env.orc_in(&env.root, &["demo", bad[0], bad[1], "--json"]).code(2);
        assert_eq!(run.error_kind(), "invalid_input", "{bad:?}");
    }
    // A folder that already holds a demo is refused, not overwritten.
    let dir = env.root.join("kept");
    env.orc_in(&env.root, &["demo", "--agents", "1", "--tasks", "1", "--dir", dir.to_str().unwrap()]).success();
    let again = env.orc_in(&env.root, &["demo", "--dir", dir.to_str().unwrap(), "--json"]).code(2);
    assert_eq!(again.error_kind(), "invalid_input");
    assert!(dir.join("remote.git").exists(), "the kept demo is intact");
}

#[test]
fn prime_fits_a_prompt_and_keeps_one_section_in_agents_md() {
    let env = TestEnv::new();
    let primer = env.orc_with(&[("ORC_AGENT", "agent-7")], &["prime"]).success().stdout;
    assert!(primer.lines().count() < 60, "{primer}");
    for needle in [
        "You are `agent-7`",
        "orc sync",
        "orc next --json",
        "orc complete",
        "orc fail",
        "orc log",
        "orc lock run",
        "orc kb write",
        "--json",
        "already_claimed",
        "Exit 0",
    ] {
        assert!(primer.contains(needle), "missing {needle:?}:\n{primer}");
    }
    let before = "# Agents\n\nOur own rules: run `make check` first.\n";
    let after_text = "\n## Later notes\n\nkeep this\n";
    std::fs::write(env.repo.join("AGENTS.md"), before).unwrap();
    env.orc(&["prime", "--agents-md"]).success();
    // Text the user adds after our section stays where it is.
    let mut with_notes = std::fs::read_to_string(env.repo.join("AGENTS.md")).unwrap();
    with_notes.push_str(after_text);
    std::fs::write(env.repo.join("AGENTS.md"), &with_notes).unwrap();
    env.orc(&["prime", "--agents-md"]).success();
    env.orc_with(&[("ORC_AGENT", "someone-else")], &["prime", "--agents-md"]).success();
    let text = std::fs::read_to_string(env.repo.join("AGENTS.md")).unwrap();
    assert_eq!(text.matches("<!-- orc:begin").count(), 1, "one section:\n{text}");
    assert!(text.starts_with(before), "text before the markers is byte-identical");
    assert!(text.ends_with(after_text), "text after the markers is byte-identical");
    assert!(text.contains("You are `someone-else`"), "the section is refreshed");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("CLAUDE.md")).unwrap(),
        "See AGENTS.md for how this repository's agents coordinate with orc.\n"
    );
    // An existing CLAUDE.md is never touched.
    std::fs::write(env.repo.join("CLAUDE.md"), "mine\n").unwrap();
    env.orc(&["prime", "--agents-md"]).success();
    assert_eq!(std::fs::read_to_string(env.repo.join("CLAUDE.md")).unwrap(), "mine\n");
}

#[test]
fn prime_hook_json_is_a_session_start_payload_holding_the_primer() {
    let env = TestEnv::new();
    let primer = env.orc_with(&[("ORC_AGENT", "agent-1")], &["prime"]).success().stdout;
    for args in [&["prime", "--hook-json"][..], &["prime", "--hook-json", "--json"]] {
        let run = env.orc_with(&[("ORC_AGENT", "agent-1")], args).success();
        let payload = run.json();
        assert_eq!(payload["hookSpecificOutput"]["hookEventName"], "SessionStart", "{run}");
        assert_eq!(payload["hookSpecificOutput"]["additionalContext"], primer.as_str(), "{run}");
    }
    env.orc(&["prime", "--hook-json", "--agents-md"]).code(2);
}

#[test]
fn bare_orc_prints_the_overview() {
    // The help reference itself is snapshot-tested in `snapshots.rs`.
    let env = TestEnv::new();
    let overview = env.orc(&[]).success().stdout;
    assert!(overview.starts_with("orc: coordinate AI coding agents through git alone"), "{overview}");
}

#[test]
fn error_messages_carry_the_command_that_fixes_them() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let no_agent = env.orc(&["next", "w"]).code(2);
    assert_eq!(
        no_agent.stderr,
        "error: this command acts as an agent, and no agent is set\nhint: pass --agent NAME, set ORC_AGENT=NAME, or run `git config orc.agent NAME`\n"
    );
    let bad_name = env.orc(&["ws", "create", "a/b"]).code(2);
    assert_eq!(
        bad_name.stderr,
        "error: invalid workstream name \"a/b\": it contains a path separator\nhint: names match [A-Za-z0-9][A-Za-z0-9._-]{0,63}, for example `api-v2`\n"
    );
    let no_remote = env.orc(&["sync"]).code(2);
    assert_eq!(
        no_remote.stderr,
        "error: no remote to sync with\nhint: git remote add origin <url> (or git config orc.remote <name>), then orc sync\n"
    );
    let fresh = TestEnv::new();
    let no_branch = fresh.orc(&["t", "show", "t-abcd"]).code(2);
    assert_eq!(no_branch.stderr, "error: there is no orc branch yet, so no tasks\nhint: orc init, then orc ws create <ws> and orc t add <ws> <title>\n");
}

#[test]
fn completions_are_generated_for_the_usual_shells() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = env.orc(&["completions", shell]).success().stdout;
        assert!(script.contains("orc") && script.contains("claim"), "{shell}: {script}");
    }
    assert_eq!(env.orc(&["completions", "tcsh"]).code, 2);
}

#[test]
fn the_demo_runs_its_agents_under_orc_work() {
    let env = TestEnv::new();
    let run = env.orc_in(&env.root, &["demo", "--work", "--agents", "2", "--tasks", "12", "--json"]).success();
    let summary = run.json();
    assert_eq!(summary["done"], 12, "{summary}");
    assert_eq!(summary["double_claims"], 0);
    let done_by = summary["done_by"].as_object().unwrap();
    assert_eq!(done_by.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 12);
    // Supervisor slots act as <agent>-<slot>.
    assert!(done_by.keys().all(|k| k.starts_with("agent-") && k.matches('-').count() == 2), "{summary}");
    assert!(run.stderr.contains("supervisors (orc work"), "{}", run.stderr);
}
