//! `orc sync` through a shared bare remote (a path): two machines' work
//! converges, and a claim won elsewhere is dropped, reported and logged.

use crate::common::TestEnv;

#[test]
fn two_clones_converge_and_a_claim_won_elsewhere_is_dropped() {
    let env = TestEnv::new();
    let (remote, b) = env.second_machine();
    let a = env.repo.clone();

    env.orc_in(&a, &["ws", "create", "w"]).success();
    let x = env.orc_in(&a, &["t", "add", "w", "contested"]).success().stdout.trim().to_string();
    let first = env.orc_in(&a, &["sync", "--json"]).success().json();
    assert_eq!(first["pushes"], 1);
    let got = env.orc_in(&b, &["sync", "--json"]).success().json();
    assert!(got["received"].as_u64().unwrap() >= 2, "{got}");
    env.orc_in(&b, &["t", "show", &x]).success();

    // Both claim x, b without publishing (as if offline); a publishes first.
    env.orc_in(&a, &["t", "claim", &x, "a1"]).success();
    env.orc_in(&b, &["t", "claim", &x, "b1", "--local"]).success();
    let y = env.orc_in(&b, &["t", "add", "w", "made on b"]).success().stdout.trim().to_string();
    env.orc_in(&a, &["sync"]).success();
    let synced = env.orc_in(&b, &["sync"]).success();
    assert!(synced.stdout.contains("1 dropped") && synced.stdout.contains(&format!("claim {x}")), "{synced}");
    assert!(synced.stdout.contains("claimed by a1"), "{synced}");
    let on_b = env.orc_in(&b, &["t", "show", &x, "--json"]).success().json();
    assert_eq!(on_b["claimed_by"], "a1", "b now sees the winner");
    env.orc_in(&a, &["sync"]).success();
    assert_eq!(env.orc_in(&a, &["t", "show", &y, "--json"]).success().json()["title"], "made on b");
    let tip_a = env.git_in(&a, &["rev-parse", "orc"]);
    assert_eq!(tip_a, env.git_in(&b, &["rev-parse", "orc"]), "both clones converge");
    assert_eq!(tip_a, env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "rev-parse", "orc"]));
    let drops = env.orc_in(&a, &["events", "--type", "sync.drop", "--json"]).success().json();
    assert_eq!(drops[0]["data"]["task"], x.as_str());
    assert_eq!(drops[0]["agent"], "b1");
    let fsck = env.command("git", &remote).args(["fsck", "--no-progress"]).output().unwrap();
    assert!(fsck.status.success());
}

#[test]
fn sync_without_a_remote_says_how_to_add_one() {
    let env = TestEnv::new();
    let run = env.orc(&["sync", "--json"]).code(2);
    assert_eq!(run.error_kind(), "no_remote");
    let unreachable = env.root.join("missing.git");
    env.git(&["remote", "add", "origin", unreachable.to_str().unwrap()]);
    env.orc(&["ws", "create", "w"]).success();
    let offline = env.orc(&["sync", "--json"]).code(3);
    assert_eq!(offline.error_kind(), "remote_not_found");
    let id = env.orc(&["t", "add", "w", "still works offline"]).success().stdout.trim().to_string();
    // A publishing operation says it could not publish, and loses nothing.
    let claim = env.orc(&["t", "claim", &id, "a1", "--json"]).code(3);
    assert_eq!(claim.error_kind(), "remote_not_found");
    assert!(
        claim.json()["error"]["message"].as_str().unwrap().starts_with("done locally but not published"),
        "{claim}"
    );
    assert_eq!(env.orc(&["t", "show", &id, "--json"]).success().json()["claimed_by"], "a1");
    // Once the remote is reachable, a sync publishes what was kept.
    let remote = env.root.join("missing.git");
    env.git_in(&env.root, &["init", "-q", "--bare", remote.to_str().unwrap()]);
    let synced = env.orc(&["sync", "--json"]).success().json();
    assert_eq!(synced["pushes"], 1);
    let on_remote = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "--format=%s", "orc"]);
    assert!(on_remote.contains(&format!("orc: claim {id}")), "{on_remote}");
}

#[test]
fn a_claim_is_won_only_when_the_host_accepted_it() {
    let env = TestEnv::new();
    let (remote, b) = env.second_machine();
    let a = env.repo.clone();
    env.orc_in(&a, &["ws", "create", "w"]).success();
    let x = env.orc_in(&a, &["t", "add", "w", "contested"]).success().stdout.trim().to_string();
    env.orc_in(&a, &["sync"]).success();
    env.orc_in(&b, &["sync"]).success();

    // a claims and publishes; b, which has not seen it, claims too.
    let won = env.orc_in(&a, &["t", "claim", &x, "a1", "--json"]).success().json();
    assert_eq!(won["claimed_by"], "a1");
    let lost = env.orc_in(&b, &["t", "claim", &x, "b1", "--json"]).code(1);
    assert_eq!(lost.error_kind(), "already_claimed");
    assert_eq!(lost.json()["error"]["claimed_by"], "a1");
    assert_eq!(env.orc_in(&b, &["t", "show", &x, "--json"]).success().json()["claimed_by"], "a1");
    // Finishing publishes too: the remote has it at once.
    env.orc_in(&a, &["complete", &x, "--agent", "a1"]).success();
    let on_remote = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "log", "-1", "--format=%s", "orc"]);
    assert!(on_remote.starts_with(&format!("orc: complete {x}")), "{on_remote}");
}

/// Issue 13: a fresh clone with `origin/orc` looked empty to read commands
/// ("no branch orc yet"); it now shows the remote's board and says it is
/// not adopted yet, and the first write adopts it.
#[test]
fn a_fresh_clone_reads_the_remotes_board_before_adopting_it() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.orc(&["ws", "create", "w"]).success();
    let id = env.add_task("w", "visible from the clone", &[]);
    env.orc(&["sync"]).success();
    env.git_in(&b, &["fetch", "-q", "origin"]);
    let status = env.orc_in(&b, &["status"]).success();
    assert!(status.stdout.contains("1 open"), "{status}");
    assert!(status.stderr.contains("note: showing origin/orc, which this clone has not adopted yet"), "{status}");
    let listed = env.orc_in(&b, &["t", "list", "--json"]).success().json();
    assert_eq!(listed[0]["id"], id.as_str());
    env.orc_in(&b, &["t", "show", &id]).success();
    assert!(env.git_in(&b, &["branch", "--list", "orc"]).is_empty(), "reading adopts nothing");
    env.orc_in(&b, &["t", "add", "w", "from the clone"]).success();
    let adopted = env.orc_in(&b, &["status"]).success();
    assert!(!adopted.stderr.contains("not adopted"), "{adopted}");
}
