//! Hostile branch content (DESIGN §4: anyone with push access writes the
//! branch): strings in task, lock, agent, workstream and event files that
//! try to drive or deceive the terminal of whoever reads the board.

use crate::common::TestEnv;

/// What a string from the branch must not carry to a terminal as it is
/// (the same list as `orc::model::names::is_terminal_unsafe`, spelled out
/// here so the test does not trust the code it checks).
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t' && c != '\r')
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// The characters a person would not see, and where; a carriage return
/// counts unless it ends a line.
fn unsafe_chars(text: &str) -> Vec<(usize, char)> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| is_unsafe(c) || (c == '\r' && chars.get(i + 1) != Some(&'\n')))
        .map(|(i, &c)| (i, c))
        .collect()
}

/// ESC sequences (CSI colour and clear screen, OSC window title, an OSC 8
/// hyperlink), a C1 CSI, a lone carriage return, a bell, backspace, bidi
/// override and isolate, zero-width characters: TOML and JSON escapes, so
/// they can be spliced into the branch's files.
const ESCAPED: &str = r"\u001b]0;pwned\u0007\u001b[2J\u001b[31m\u009b1;1H\u001b]8;;http://evil.example\u001b\\link\u001b]8;;\u001b\\\r\u0008\u202egnp.exe\u2066\u200b\u200d\ufeff\u200e\u061c!";

/// Changes one file of the branch by text replacement, as a hostile agent
/// with push access could.
fn splice(env: &TestEnv, path: &str, from: &str, to: &str) {
    let text = env.show(path) + "\n";
    assert!(text.contains(from), "{path} has no {from:?}:\n{text}");
    env.edit_branch_file(path, &text.replace(from, to));
}

fn file_under(env: &TestEnv, prefix: &str, suffix: &str) -> String {
    env.git(&["ls-tree", "-r", "--name-only", "orc"])
        .lines()
        .find(|p| p.starts_with(prefix) && p.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {prefix}…{suffix} in the branch"))
        .to_string()
}

/// A board whose every kind of file carries the hostile strings, built by
/// orc and then edited by hand. Returns the task's id.
fn hostile_board(env: &TestEnv) -> String {
    env.orc(&["ws", "create", "w", "plain description"]).success();
    let id = env.add_task("w", "plain title", &["plain words"]);
    let done = env.add_task("w", "finished title", &[]);
    env.orc(&["a", "register", "agent-1", "worker"]).success();
    env.orc(&["t", "claim", &id, "agent-1"]).success();
    env.orc(&["t", "claim", &done, "agent-1"]).success();
    env.orc(&["complete", &done, "plain result", "--agent", "agent-1"]).success();
    env.orc(&["lock", "acquire", "db", "--agent", "agent-1"]).success();
    env.orc(&["log", "note", "--data", r#"{"note":"plain note"}"#, "--agent", "agent-1"]).success();
    env.orc(&["kb", "write", "notes", "plain text"]).success();

    let task = file_under(env, "workstreams/w/tasks/", &format!("{id}.toml"));
    splice(env, &task, "\"plain title\"", &format!("\"title{ESCAPED}\""));
    splice(env, &task, "\"plain words\"", &format!("\"words{ESCAPED}\""));
    splice(env, &task, "claimed_by = \"agent-1\"", &format!("claimed_by = \"agent-1{ESCAPED}\""));
    let finished = file_under(env, "workstreams/w/tasks/", &format!("{done}.toml"));
    splice(env, &finished, "\"plain result\"", &format!("\"result{ESCAPED}\""));
    splice(env, "workstreams/w/workstream.toml", "\"plain description\"", &format!("\"ws{ESCAPED}\""));
    splice(env, "locks/db.toml", "holder = \"agent-1\"", &format!("holder = \"agent-1{ESCAPED}\""));
    splice(env, "agents/agent-1.toml", "\"worker\"", &format!("\"role{ESCAPED}\""));
    let events = file_under(env, "events/", "agent-1/000001.jsonl");
    let lines = env.show(&events);
    let hostile_events: String = lines
        .lines()
        .map(|l| l.replace("\"agent\":\"agent-1\"", &format!("\"agent\":\"agent-1{ESCAPED}\"")))
        .map(|l| l.replace("plain note", &format!("note{ESCAPED}")) + "\n")
        .collect();
    assert_ne!(hostile_events, lines + "\n", "the event lines name their agent");
    env.edit_branch_file(&events, &hostile_events);
    id
}

/// Issue 13: `claimed_by`, a lock's holder, an event's agent and every other
/// string from the branch reached the terminal raw (ESC, OSC, C1 CSI, bidi,
/// zero-width). Every command that shows the board prints none of them, on
/// stdout or stderr.
#[test]
fn branch_strings_reach_no_terminal_raw() {
    let env = TestEnv::new();
    let id = hostile_board(&env);
    // The hostile strings are really on the board: --json carries them exactly.
    let task = env.orc(&["t", "show", &id, "--json"]).success().json();
    assert!(task["claimed_by"].as_str().unwrap().contains("\u{1b}]0;pwned\u{7}"), "{task}");
    let locks = env.orc(&["lock", "list", "--json"]).success().json();
    assert!(locks.to_string().contains("\\u001b]0;pwned"), "{locks}");

    let commands: &[&[&str]] = &[
        &["status"],
        &["t", "list"],
        &["t", "list", "--status", "done"],
        &["t", "show", &id],
        &["ready"],
        &["ws", "list"],
        &["ws", "show", "w"],
        &["lock", "list"],
        &["a", "list"],
        &["events"],
        &["kb", "list"],
        &["plan"],
        &["brief", "agent-1"],
        &["collect"],
        &["doctor"],
    ];
    let mut shown = 0;
    for args in commands {
        let run = env.orc(args);
        assert!(run.code == 0 || args == &["doctor"], "{args:?} failed:\n{run}");
        let found = unsafe_chars(&run.stdout);
        assert!(found.is_empty(), "orc {args:?} printed {found:?} on stdout:\n{}", run.stdout.escape_debug());
        let found = unsafe_chars(&run.stderr);
        assert!(found.is_empty(), "orc {args:?} printed {found:?} on stderr:\n{}", run.stderr.escape_debug());
        shown += usize::from(run.stdout.contains("pwned"));
    }
    // Shown, marked, not dropped: the reader sees something was there.
    assert!(shown >= 8, "the hostile values are printed (made safe) by most commands, {shown} did");
    let show = env.orc(&["t", "show", &id]).success().stdout;
    assert!(show.contains("agent-1\u{fffd}]0;pwned\u{fffd}"), "{show}");
}

/// A command refused with branch content in its message: the error and its
/// hint are made safe too.
#[test]
fn errors_naming_branch_content_are_safe() {
    let env = TestEnv::new();
    let id = hostile_board(&env);
    let run = env.orc(&["t", "claim", &id, "agent-2"]).code(1);
    assert!(run.stderr.contains("pwned"), "the refusal names the holder:\n{run}");
    assert_eq!(unsafe_chars(&run.stderr), vec![], "{}", run.stderr.escape_debug());
    let run = env.orc(&["lock", "acquire", "db", "--agent", "agent-2", "--local"]).code(1);
    assert_eq!(unsafe_chars(&run.stderr), vec![], "{}", run.stderr.escape_debug());
}

/// `kb read` promises the stored bytes: into a file or a pipe they are
/// exact (`orc kb read t > t.md` round-trips), while on a terminal (a pty
/// here, through util-linux `script`) they are made safe like all output.
#[test]
fn kb_read_is_exact_in_a_pipe_and_safe_on_a_terminal() {
    let env = TestEnv::new();
    let text = "# Notes\r\n\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}gnp.exe\u{200b}\n";
    std::fs::write(env.root.join("t.md"), text).unwrap();
    env.orc(&["kb", "write", "t", "--file", env.root.join("t.md").to_str().unwrap()]).success();
    assert_eq!(env.orc(&["kb", "read", "t"]).success().stdout, text, "a pipe gets the bytes as stored");
    assert_eq!(env.orc(&["kb", "read", "t", "--json"]).success().json()["text"], text);

    let out = env
        .command("script", &env.repo)
        .args(["-qec", "stty -onlcr; orc kb read t", "/dev/null"])
        .output()
        .expect("util-linux `script` runs (it gives the command a terminal)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("pwned") && shown.contains("gnp.exe"), "{shown:?}");
    assert_eq!(unsafe_chars(&shown), vec![], "{shown:?}");
}

/// Commit subjects carry titles and names into `git log orc`, which prints
/// them raw; the trailer carries the input, and keeps it exact in escapes.
#[test]
fn git_log_of_the_branch_prints_no_terminal_controls() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "w"]).success();
    let title = "deploy \u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}gnp.exe\u{200b} now";
    let id = env.add_task("w", title, &[]);
    let log = env.git(&["log", "orc"]);
    assert!(log.contains("pwned"), "{log}");
    assert_eq!(unsafe_chars(&log), vec![], "{}", log.escape_debug());
    assert_eq!(env.orc(&["t", "show", &id, "--json"]).success().json()["title"], title, "the title is kept exactly");
}
