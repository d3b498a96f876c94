//! The cycle runner: plan, brief, collect.

use serde_json::Value;

use crate::common::TestEnv;

const T: &str = "2026-11-21T10:00:00Z";
const HOUR_AGO: &str = "2026-11-21T09:00:00Z";

fn at(env: &TestEnv, time: &str, args: &[&str]) -> crate::common::Run {
    env.orc_with(&[("ORC_NOW", time)], args)
}

fn id(run: crate::common::Run) -> String {
    run.success().stdout.trim().to_string()
}

/// A board with dependencies, shared resources, a stale agent and an
/// expired lock. Returns the task ids by name.
fn board(env: &TestEnv) -> Vec<(&'static str, String)> {
    at(env, HOUR_AGO, &["ws", "create", "revenue", "Revenue", "1"]).success();
    at(env, HOUR_AGO, &["ws", "create", "product", "Product", "2"]).success();
    let pay = id(at(
        env,
        HOUR_AGO,
        &["t", "add", "revenue", "Add payments", "Integrate USDC; see api-design", "1", "--resource", "db"],
    ));
    let refunds = id(at(env, HOUR_AGO, &["t", "add", "revenue", "Payment refunds", "", "2", "--resource", "db"]));
    let tests = id(at(env, HOUR_AGO, &["t", "add", "product", "Write tests", "", "1", "--after", &pay]));
    let docs = id(at(env, HOUR_AGO, &["t", "add", "product", "Write docs", "", "3"]));
    at(env, HOUR_AGO, &["a", "register", "old", "worker"]).success();
    at(env, HOUR_AGO, &["lock", "acquire", "deploy", "--ttl", "60s", "--agent", "old"]).success();
    at(env, T, &["a", "register", "a1", "worker"]).success();
    at(env, T, &["a", "register", "a2", "worker"]).success();
    vec![("pay", pay), ("refunds", refunds), ("tests", tests), ("docs", docs)]
}

fn redact(text: &str, ids: &[(&str, String)]) -> String {
    ids.iter().fold(text.to_string(), |text, (name, id)| text.replace(id.as_str(), &format!("<{name}>")))
}

#[test]
fn plan_proposes_one_task_per_idle_agent_and_keeps_shared_resources_serial() {
    let env = TestEnv::new();
    let ids = board(&env);
    let plan = at(&env, T, &["plan"]).success().stdout;
    let expected = "\
# Cycle 1 plan

_As of 2026-11-21 10:00 UTC._

## Proposed assignments

- **a1** → `<pay>` Add payments (p1) in revenue — `orc t claim <pay> --agent a1`
- **a2** → `<docs>` Write docs (p3) in product — `orc t claim <docs> --agent a2`

### Serial (held back this cycle)

- `<refunds>` Payment refunds (p2): db is proposed for <pay> (a1)

## Agents

- Idle: a1, a2
- Stale: old

## Expired locks

- `deploy` held by old expired 09:01 UTC (token 1)

## revenue (p1)

Ready, best first:
- `<pay>` Add payments (p1)
- `<refunds>` Payment refunds (p2)

## product (p2)

Ready, best first:
- `<docs>` Write docs (p3)

Blocked:
- `<tests>` Write tests (p1) waits for `<pay>` (open)
";
    assert_eq!(redact(&plan, &ids), expected);
    // Kept in the branch, with the JSON beside it.
    assert_eq!(redact(&env.show("cycles/1/plan.md"), &ids), expected.trim_end());
    let json: Value = serde_json::from_str(&env.show("cycles/1/plan.json")).unwrap();
    assert_eq!(json["assignments"].as_array().unwrap().len(), 2);
    assert_eq!(json["stale_agents"], serde_json::json!(["old"]));
    // A claimed resource holds back its peers too, and the holder is not idle.
    at(&env, T, &["t", "claim", &ids[0].1, "a1"]).success();
    let replanned = at(&env, T, &["plan", "--json"]).success().json();
    assert_eq!(replanned["cycle"], 1, "the cycle is still open");
    assert_eq!(replanned["idle_agents"], serde_json::json!(["a2"]));
    assert!(replanned["held_back"][0]["reason"].as_str().unwrap().contains("db is in use by"), "{replanned}");
}

#[test]
fn brief_gives_an_agent_everything_it_needs() {
    let env = TestEnv::new();
    let ids = board(&env);
    let pay = &ids[0].1;
    at(&env, T, &["kb", "write", "api-design", "Use REST for external, events for internal"]).success();
    at(&env, T, &["kb", "write", "payments/limits", "Cap refunds at 100 USDC"]).success();
    at(&env, T, &["kb", "write", "unrelated", "Office plants need water"]).success();
    at(&env, T, &["t", "claim", pay, "a1"]).success();
    at(&env, T, &["lock", "acquire", "db", "--ttl", "10m", "--agent", "a1"]).success();
    let brief = at(&env, T, &["brief", "a1"]).success().stdout;
    for needle in [
        "# Brief for a1",
        &format!("### {pay} — Add payments"),
        "Integrate USDC; see api-design",
        "- Touches: db",
        "## Locks you hold\n\n- `db` until 10:10 UTC (token 1)",
        "`api-design` (named in",
        "`orc kb read api-design`",
        "`payments/limits` (shares \"payments\"",
        &format!("orc complete {pay} \"<what you did>\" --agent a1 --token 1"),
        &format!("orc fail {pay}"),
        "orc log progress",
        "orc kb write <topic>",
    ] {
        assert!(brief.contains(needle), "missing {needle:?} in:\n{brief}");
    }
    assert!(!brief.contains("unrelated"), "{brief}");
    // An agent holding nothing is told what to take next.
    let idle = at(&env, T, &["brief", "a2", "--json"]).success().json();
    assert_eq!(idle["tasks"][0]["id"], ids[3].1.as_str(), "the best ready task a2 can take");
    assert!(idle["markdown"].as_str().unwrap().contains(&format!("orc t claim {} --agent a2", ids[3].1)));
    // A workstream's brief is its top ready task.
    let ws = at(&env, T, &["brief", "product"]).success().stdout;
    assert!(ws.starts_with("# Brief: next task in product") && ws.contains(&ids[3].1), "{ws}");
}

#[test]
fn collect_reports_each_finished_task_exactly_once_across_cycles() {
    let env = TestEnv::new();
    let ids = board(&env);
    let (pay, refunds, docs) = (&ids[0].1, &ids[1].1, &ids[3].1);
    at(&env, T, &["t", "claim", pay, "a1"]).success();
    at(&env, "2026-11-21T10:20:00Z", &["complete", pay, "shipped", "--agent", "a1"]).success();
    at(&env, T, &["t", "claim", docs, "a2"]).success();
    at(&env, "2026-11-21T10:05:00Z", &["fail", docs, "no access", "--agent", "a2"]).success();
    at(&env, T, &["kb", "write", "notes", "first"]).success();
    let first = at(&env, "2026-11-21T10:30:00Z", &["collect", "--json"]).success().json();
    assert_eq!(first["cycle"], 1);
    let finished: Vec<(&str, &str)> = first["finished"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["task"]["id"].as_str().unwrap(), f["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(finished, vec![(docs.as_str(), "failed"), (pay.as_str(), "done")]);
    assert_eq!(first["finished"][1]["took_secs"], 1200);
    assert_eq!(first["finished"][0]["result"], "no access");
    assert_eq!(first["by_agent"]["a1"], serde_json::json!([1, 0]));
    assert_eq!(first["knowledge"][0]["topic"], "notes");
    let report = env.show("cycles/1/report.md");
    assert!(report.contains("## Failed") && report.contains("no access") && report.contains("took 20m"), "{report}");

    // Second cycle: only what finished since.
    at(&env, "2026-11-21T10:40:00Z", &["t", "claim", refunds, "a1"]).success();
    at(&env, "2026-11-21T10:45:00Z", &["complete", refunds, "--agent", "a1"]).success();
    at(&env, "2026-11-21T10:46:00Z", &["t", "retry", docs]).success();
    at(&env, "2026-11-21T10:46:00Z", &["t", "claim", docs, "a2"]).success();
    let second = at(&env, "2026-11-21T11:00:00Z", &["collect", "--json"]).success().json();
    assert_eq!(second["cycle"], 2);
    let finished: Vec<&str> =
        second["finished"].as_array().unwrap().iter().map(|f| f["task"]["id"].as_str().unwrap()).collect();
    assert_eq!(finished, vec![refunds.as_str()], "each finished task is reported once");
    assert_eq!(second["in_progress"][0]["id"], docs.as_str());
    assert_eq!(second["knowledge"], serde_json::json!([]));
    assert_eq!(second["since"], "2026-11-21T10:30:00Z");
    // A third collect with nothing new reports nothing.
    let third = at(&env, "2026-11-21T11:30:00Z", &["collect", "--json"]).success().json();
    assert_eq!(third["finished"], serde_json::json!([]));
    assert_eq!(at(&env, "2026-11-21T11:31:00Z", &["plan", "--json"]).success().json()["cycle"], 4);
}
