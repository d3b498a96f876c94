//! `orc mcp`: rmcp's own client drives the real binary over stdio in real
//! repositories (and the HTTP router in-process over real TCP).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion, ReadResourceRequestParams};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::{json, Value};

use crate::common::{TestEnv, ORC};

type Client = RunningService<RoleClient, ()>;

/// Every tool, as the issue lists them.
const TOOLS: [&str; 12] = [
    "orc_status",
    "orc_ready",
    "orc_next",
    "orc_claim",
    "orc_task",
    "orc_add_task",
    "orc_finish",
    "orc_heartbeat",
    "orc_lock",
    "orc_events",
    "orc_kb",
    "orc_wait",
];

fn server_command(env: &TestEnv, dir: &Path, agent: Option<&str>) -> tokio::process::Command {
    let mut cmd = env.command(ORC, dir);
    cmd.arg("mcp");
    if let Some(agent) = agent {
        cmd.env("ORC_AGENT", agent);
    }
    tokio::process::Command::from(cmd)
}

/// An `orc mcp` in `dir` acting as `agent`, through the handshake of the
/// previous protocol revision (`initialize`).
async fn connect(env: &TestEnv, dir: &Path, agent: &str) -> Client {
    let transport = TokioChildProcess::new(server_command(env, dir, Some(agent))).expect("spawn orc mcp");
    ().serve(transport).await.expect("the MCP handshake")
}

/// Calls a tool. An answer the client never gets (one it dropped as too
/// long, a server that died) fails the test instead of hanging it.
async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else { panic!("arguments are an object") };
    let request = client.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args));
    tokio::time::timeout(std::time::Duration::from_secs(120), request)
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer in 120 s"))
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

/// The structured result of a call that must succeed.
#[track_caller]
fn ok(result: CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "the tool failed: {result:?}");
    result.structured_content.expect("structured content")
}

/// The `kind` of a call that must be refused, as a tool error.
#[track_caller]
fn refused(result: CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "expected a tool error: {result:?}");
    let content = result.structured_content.expect("structured content");
    content["error"]["kind"].as_str().unwrap_or_else(|| panic!("no kind in {content}")).to_string()
}

async fn read(client: &Client, uri: &str) -> String {
    let result = client.read_resource(ReadResourceRequestParams::new(uri.to_string())).await.expect(uri);
    match &result.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{uri}: not text: {other:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn a_client_calls_every_tool_and_reads_every_resource() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let first = env.add_task("api", "first", &["", "1"]);
    let second = env.add_task("api", "second", &[]);
    let later = env.add_task("api", "later", &["--after", &first]);
    runtime().block_on(async {
        let client = connect(&env, &env.repo, "agent-1").await;
        let info = client.peer_info().expect("the server answered initialize");
        assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
        assert!(info.instructions.as_deref().is_some_and(|i| i.contains("orc_next")), "{info:?}");

        let names: BTreeSet<String> =
            client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, TOOLS.iter().map(|t| t.to_string()).collect());

        let status = ok(call(&client, "orc_status", json!({})).await);
        assert_eq!(status["tasks"]["total"], 3);
        let ready = ok(call(&client, "orc_ready", json!({"workstream": "api"})).await);
        assert_eq!(ready["count"], 2, "{ready}");
        assert_eq!(ready["tasks"][0]["id"], first.as_str(), "priority 1 first");

        let added =
            ok(call(&client, "orc_add_task", json!({"workstream": "api", "title": "from mcp", "priority": 9})).await);
        let added_id = added["id"].as_str().unwrap().to_string();
        assert_eq!(added["created_by"], "agent-1");
        assert_eq!(env.orc(&["t", "show", &added_id, "--json"]).success().json()["title"], "from mcp");

        let next = ok(call(&client, "orc_next", json!({})).await);
        assert_eq!(next["task"]["id"], first.as_str());
        assert_eq!(next["task"]["status"], "claimed");
        assert_eq!(next["task"]["claimed_by"], "agent-1");
        let token = next["claim_token"].as_u64().expect("a claim token");
        assert!(next["brief"].as_str().unwrap().contains(&first), "the brief names the task: {next}");
        assert_eq!(env.orc(&["t", "show", &first, "--json"]).success().json()["claimed_by"], "agent-1");

        let shown = ok(call(&client, "orc_task", json!({"task": later})).await);
        assert_eq!(shown["blocked_by"][0]["id"], first.as_str(), "{shown}");

        let alive = ok(call(&client, "orc_heartbeat", json!({"status": "testing"})).await);
        assert_eq!((alive["id"].as_str(), alive["status"].as_str()), (Some("agent-1"), Some("testing")));

        let lock = ok(call(&client, "orc_lock", json!({"resource": "db", "action": "acquire", "ttl_secs": 30})).await);
        assert_eq!((lock["holder"].as_str(), lock["token"].as_u64()), (Some("agent-1"), Some(1)));
        let released = ok(call(&client, "orc_lock", json!({"resource": "db", "action": "release"})).await);
        assert_eq!(released["holder"], Value::Null);

        ok(call(&client, "orc_kb", json!({"action": "write", "topic": "notes/db", "text": "use sqlite"})).await);
        ok(call(&client, "orc_kb", json!({"action": "append", "topic": "notes/db", "text": "in WAL mode"})).await);
        let topic = ok(call(&client, "orc_kb", json!({"action": "read", "topic": "notes/db"})).await);
        assert_eq!(topic["text"], "use sqlite\nin WAL mode");
        let topics = ok(call(&client, "orc_kb", json!({"action": "list"})).await);
        assert_eq!(topics["topics"][0]["topic"], "notes/db");

        let done = ok(call(
            &client,
            "orc_finish",
            json!({"task": first, "outcome": "complete", "token": token, "text": "shipped"}),
        )
        .await);
        assert_eq!((done["status"].as_str(), done["result"].as_str()), (Some("done"), Some("shipped")));
        let waited = ok(call(&client, "orc_wait", json!({"task": first, "timeout_secs": 5})).await);
        assert_eq!(waited["status"], "done");

        let claimed = ok(call(&client, "orc_claim", json!({"task": second})).await);
        assert_eq!(claimed["task"]["id"], second.as_str());
        let failed = ok(call(
            &client,
            "orc_finish",
            json!({"task": second, "outcome": "fail", "token": claimed["claim_token"], "text": "no key"}),
        )
        .await);
        assert_eq!(failed["status"], "failed");

        // The newest events, then paging forward from a cursor misses nothing.
        let newest = ok(call(&client, "orc_events", json!({"limit": 3})).await);
        assert_eq!(newest["events"].as_array().unwrap().len(), 3);
        assert_eq!(newest["events"][2]["type"], "task.fail");
        let all = env.orc(&["events", "--last", "1000", "--json"]).success().json();
        let all_ids: Vec<&str> = all.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        let mut paged = Vec::new();
        let mut cursor = all_ids[0].to_string();
        loop {
            let page = ok(call(&client, "orc_events", json!({"after": cursor, "limit": 4})).await);
            for event in page["events"].as_array().unwrap() {
                paged.push(event["id"].as_str().unwrap().to_string());
            }
            cursor = page["next_after"].as_str().unwrap().to_string();
            if page["more"] == false {
                break;
            }
        }
        assert_eq!(paged, all_ids[1..], "paging with next_after returns every later event once, in order");

        // Resources: listed, templated, and each one read.
        let uris: BTreeSet<String> =
            client.list_all_resources().await.unwrap().into_iter().map(|r| r.uri.clone()).collect();
        let expected: BTreeSet<String> =
            ["orc://primer", "orc://brief/agent-1", "orc://kb/notes/db"].iter().map(|u| u.to_string()).collect();
        assert_eq!(uris, expected);
        let templates = client.list_all_resource_templates().await.unwrap();
        assert_eq!(templates.len(), 2, "{templates:?}");
        let primer = read(&client, "orc://primer").await;
        assert!(primer.contains("You are `agent-1`"), "{primer}");
        assert_eq!(primer, env.orc_with(&[("ORC_AGENT", "agent-1")], &["prime"]).success().stdout);
        let brief = read(&client, "orc://brief/agent-1").await;
        assert!(brief.contains("agent-1"), "{brief}");
        assert_eq!(read(&client, "orc://kb/notes/db").await, "use sqlite\nin WAL mode");
        let missing = client.read_resource(ReadResourceRequestParams::new("orc://kb/nothing")).await;
        assert!(matches!(missing, Err(ServiceError::McpError(_))), "{missing:?}");

        client.cancel().await.unwrap();
    });
}

#[test]
fn refusals_are_tool_errors_that_carry_their_kind() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let theirs = env.add_task("api", "theirs", &[]);
    let mine = env.add_task("api", "mine", &[]);
    let blocked = env.add_task("api", "blocked", &["--after", &mine]);
    env.orc_with(&[("ORC_AGENT", "agent-2")], &["claim", &theirs]).success();
    env.orc_with(&[("ORC_AGENT", "agent-2")], &["lock", "acquire", "db"]).success();
    runtime().block_on(async {
        let client = connect(&env, &env.repo, "agent-1").await;
        assert_eq!(refused(call(&client, "orc_claim", json!({"task": theirs})).await), "already_claimed");
        assert_eq!(refused(call(&client, "orc_claim", json!({"task": blocked})).await), "blocked");
        assert_eq!(
            refused(call(&client, "orc_lock", json!({"resource": "db", "action": "acquire"})).await),
            "lock_held"
        );
        assert_eq!(
            refused(call(&client, "orc_lock", json!({"resource": "db", "action": "release"})).await),
            "not_holder"
        );
        assert_eq!(
            refused(call(&client, "orc_finish", json!({"task": theirs, "outcome": "complete"})).await),
            "not_holder"
        );
        let claimed = ok(call(&client, "orc_next", json!({})).await);
        assert_eq!(claimed["task"]["id"], mine.as_str());
        let token = claimed["claim_token"].as_u64().unwrap();
        assert_eq!(refused(call(&client, "orc_next", json!({})).await), "nothing_ready");
        assert_eq!(
            refused(
                call(&client, "orc_finish", json!({"task": mine, "outcome": "complete", "token": token + 7})).await
            ),
            "stale_token"
        );
        ok(call(&client, "orc_finish", json!({"task": mine, "outcome": "complete", "token": token})).await);
        assert_eq!(
            refused(call(&client, "orc_finish", json!({"task": mine, "outcome": "fail", "token": token})).await),
            "terminal"
        );
        assert_eq!(refused(call(&client, "orc_task", json!({"task": "t-zzzzzzzzzz"})).await), "not_found");
        assert_eq!(refused(call(&client, "orc_kb", json!({"action": "read", "topic": "none"})).await), "not_found");
        assert_eq!(refused(call(&client, "orc_wait", json!({"task": theirs, "timeout_secs": 1})).await), "timeout");
        assert_eq!(refused(call(&client, "orc_ready", json!({"workstream": "nope"})).await), "not_found");
        client.cancel().await.unwrap();
    });
}

#[test]
fn an_idempotency_key_answers_a_repeat_with_the_first_result() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    runtime().block_on(async {
        let client = connect(&env, &env.repo, "agent-1").await;
        let args = json!({"workstream": "api", "title": "once", "idempotency_key": "k-1"});
        let first = ok(call(&client, "orc_add_task", args.clone()).await);
        let tip = env.tip();
        let again = ok(call(&client, "orc_add_task", args).await);
        assert_eq!(first["id"], again["id"]);
        assert_eq!(env.tip(), tip, "a repeat writes nothing");
        let other = json!({"workstream": "api", "title": "different", "idempotency_key": "k-1"});
        assert_eq!(refused(call(&client, "orc_add_task", other).await), "key_reused");
        client.cancel().await.unwrap();
    });
}

#[test]
fn the_current_protocol_revision_is_served_without_initialize() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    env.add_task("api", "one", &[]);
    runtime().block_on(async {
        let transport = TokioChildProcess::new(server_command(&env, &env.repo, Some("agent-1"))).unwrap();
        let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
        let client = ().serve_with_lifecycle(transport, lifecycle).await.expect("server/discover");
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), TOOLS.len());
        let next = ok(call(&client, "orc_next", json!({})).await);
        assert_eq!(next["task"]["claimed_by"], "agent-1");
        assert!(read(&client, "orc://primer").await.contains("agent-1"));
        client.cancel().await.unwrap();
    });
}

#[test]
fn the_server_refuses_to_start_without_an_identity() {
    let env = TestEnv::new();
    let run = env.orc(&["mcp"]).code(2);
    assert!(run.stdout.is_empty(), "stdout belongs to the protocol: {run}");
    assert_eq!(run.stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{run}");
    assert!(run.stderr.contains("ORC_AGENT") && run.stderr.contains("git config orc.agent"), "says how: {run}");
    let bad = env.orc_with(&[("ORC_AGENT", "../x")], &["mcp"]).code(2);
    assert!(bad.stderr.contains("invalid agent name"), "{bad}");

    // The worktree's git config names the agent when the environment does not.
    env.git(&["config", "orc.agent", "agent-7"]);
    runtime().block_on(async {
        let transport = TokioChildProcess::new(server_command(&env, &env.repo, None)).unwrap();
        let client = ().serve(transport).await.unwrap();
        let alive = ok(call(&client, "orc_heartbeat", json!({})).await);
        assert_eq!(alive["id"], "agent-7");
        client.cancel().await.unwrap();
    });
}

#[test]
fn the_repository_is_resolved_on_every_call() {
    let env = TestEnv::new();
    runtime().block_on(async {
        // Started before the branch exists: the first write creates it.
        let client = connect(&env, &env.repo, "agent-1").await;
        let status = ok(call(&client, "orc_status", json!({})).await);
        assert_eq!(status["tip"], Value::Null);
        // The library's notices travel with the answer.
        let alive = ok(call(&client, "orc_heartbeat", json!({})).await);
        assert_eq!(alive["notices"], json!(["created branch orc for orc's state"]), "{alive}");
        env.orc(&["ws", "create", "api"]).success();
        ok(call(&client, "orc_add_task", json!({"workstream": "api", "title": "on orc"})).await);
        // A branch configured while the server runs is the one it writes next.
        env.git(&["config", "orc.branch", "coord"]);
        env.orc(&["ws", "create", "api"]).success();
        let moved = env.tip();
        let task = ok(call(&client, "orc_add_task", json!({"workstream": "api", "title": "on coord"})).await);
        assert_eq!(env.tip(), moved, "the old branch did not move");
        env.git(&["rev-parse", "--verify", "refs/heads/coord"]);
        let on_coord = env.orc(&["t", "show", task["id"].as_str().unwrap(), "--json"]).success().json();
        assert_eq!(on_coord["title"], "on coord");
        client.cancel().await.unwrap();
    });
}

#[test]
fn a_server_started_elsewhere_serves_the_directory_it_is_given() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let task = env.add_task("api", "one", &[]);
    runtime().block_on(async {
        let mut cmd = env.command(ORC, &env.root);
        cmd.args(["-C", env.repo.to_str().unwrap(), "mcp"]).env("ORC_AGENT", "agent-1");
        let client = ().serve(TokioChildProcess::new(tokio::process::Command::from(cmd)).unwrap()).await.unwrap();
        let next = ok(call(&client, "orc_next", json!({})).await);
        assert_eq!(next["task"]["id"], task.as_str());
        client.cancel().await.unwrap();
    });
}

#[test]
fn bad_input_is_an_error_and_writes_nothing() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let task = env.add_task("api", "one", &[]);
    let tip = env.tip();
    let huge = "x".repeat(10 * 1024 * 1024);
    runtime().block_on(async {
        let client = connect(&env, &env.repo, "agent-1").await;
        let unknown = client.call_tool(CallToolRequestParams::new("orc_drop_tables")).await;
        match unknown {
            Err(ServiceError::McpError(e)) => assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS),
            other => panic!("an unknown tool is a protocol error: {other:?}"),
        }
        let cases = [
            ("orc_claim", json!({}), "invalid_input"),
            ("orc_finish", json!({"task": task}), "invalid_input"),
            ("orc_add_task", json!({"workstream": "api", "title": "x", "priority": "high"}), "invalid_input"),
            ("orc_add_task", json!({"workstream": "api", "title": "x", "priority": 12}), "invalid_input"),
            ("orc_add_task", json!({"workstream": "api", "title": "x", "colour": "red"}), "invalid_input"),
            ("orc_add_task", json!({"workstream": "../etc", "title": "x"}), "invalid_name"),
            ("orc_lock", json!({"resource": "a b", "action": "acquire"}), "invalid_name"),
            ("orc_lock", json!({"resource": "db", "action": "steal"}), "invalid_input"),
            ("orc_lock", json!({"resource": "db", "action": "acquire", "ttl_secs": 0}), "invalid_input"),
            ("orc_kb", json!({"action": "write", "topic": "/etc/passwd", "text": "x"}), "invalid_name"),
            ("orc_kb", json!({"action": "write", "topic": "ok"}), "invalid_input"),
            ("orc_events", json!({"after": "not-an-id"}), "invalid_id"),
            ("orc_events", json!({"limit": 0}), "invalid_input"),
            ("orc_wait", json!({"task": task, "timeout_secs": 100000}), "invalid_input"),
            ("orc_next", json!({"idempotency_key": ""}), "invalid_input"),
            ("orc_add_task", json!({"workstream": "api", "title": huge}), "invalid_input"),
            ("orc_kb", json!({"action": "write", "topic": "big", "text": huge}), "too_large"),
            ("orc_claim", json!({"task": huge}), "invalid_id"),
        ];
        for (tool, args, kind) in cases {
            let shown: String = args.to_string().chars().take(80).collect();
            let result = call(&client, tool, args).await;
            assert_eq!(refused(result), kind, "{tool} {shown}");
        }
        // The server is still there and answers.
        ok(call(&client, "orc_status", json!({})).await);
        client.cancel().await.unwrap();
    });
    assert_eq!(env.tip(), tip, "bad input wrote nothing");
}

#[test]
fn tools_list_stays_under_2500_tokens() {
    let tools = orc::mcp::OrcMcp::tools();
    let bytes = serde_json::to_string(&json!({"tools": tools})).unwrap().len();
    // Tokens are approximated as bytes / 4; BENCHMARKS.md records the figure.
    assert!(bytes / 4 < 2_500, "tools/list is {bytes} bytes, about {} tokens", bytes / 4);
    for tool in &tools {
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(!description.contains('\n') && description.len() <= 100, "{}: {description}", tool.name);
        assert!(tool.annotations.as_ref().is_some_and(|a| a.read_only_hint.is_some()), "{}", tool.name);
    }
}

/// Starts `count` servers, one per agent (`agent-<offset + i>`), in `dir`.
async fn servers(env: &TestEnv, dir: &Path, count: usize, offset: usize) -> Vec<(String, Client)> {
    let mut out = Vec::new();
    for i in 0..count {
        let agent = format!("agent-{}", offset + i);
        let client = connect(env, dir, &agent).await;
        out.push((agent, client));
    }
    out
}

/// Who got what in a race.
#[derive(Default)]
struct Claims {
    /// (agent, task) for every task a server answered `orc_next` with.
    won: Vec<(String, String)>,
    /// (agent, task) named by a `kept_locally` error: claimed on the
    /// agent's machine, publishing failed (git on the clone or the bare
    /// remote was busy).
    kept: Vec<(String, String)>,
}

/// Every server calls `orc_next` until nothing is ready. A `kept_locally`
/// error is retried, as its hint says and as an agent would: the next
/// `orc_next` publishes that claim and answers with it (unless another
/// process of the same clone published it meanwhile: then the branch has
/// it, and the error named it).
async fn race(clients: Vec<(String, Client)>) -> Claims {
    let mut handles = Vec::new();
    for (agent, client) in clients {
        handles.push(tokio::spawn(async move {
            let mut claims = Claims::default();
            loop {
                let result = call(&client, "orc_next", json!({})).await;
                if result.is_error == Some(true) {
                    let error = result.structured_content.clone().unwrap_or_default();
                    if error["error"]["kept_locally"] == true && claims.kept.len() < 50 {
                        let task = error["error"]["task"].as_str().expect("the error names the task claimed");
                        claims.kept.push((agent.clone(), task.to_string()));
                        continue;
                    }
                    assert_eq!(refused(result), "nothing_ready", "{agent}: {error}");
                    break;
                }
                claims.won.push((agent.clone(), ok(result)["task"]["id"].as_str().unwrap().to_string()));
            }
            client.cancel().await.unwrap();
            claims
        }));
    }
    let mut all = Claims::default();
    for handle in handles {
        let claims = handle.await.unwrap();
        all.won.extend(claims.won);
        all.kept.extend(claims.kept);
    }
    all
}

/// No task was handed to two agents; the branch in `dir` holds every task
/// claimed once, by the agent whose server answered with it (or whose
/// `kept_locally` error named it); one claim commit per task.
#[track_caller]
fn claimed_once(env: &TestEnv, dir: &Path, claims: &Claims, tasks: &BTreeSet<String>) {
    let mut by_task: BTreeMap<&str, &str> = BTreeMap::new();
    for (agent, task) in &claims.won {
        if let Some(first) = by_task.insert(task, agent) {
            panic!("{task} was handed out twice: to {first} and to {agent} (kept locally: {:?})", claims.kept);
        }
    }
    let listed = env.orc_in(dir, &["t", "list", "--json"]).success().json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), tasks.len());
    for task in listed {
        let id = task["id"].as_str().unwrap();
        assert!(tasks.contains(id));
        assert_eq!(task["status"], "claimed", "{id}");
        let holder = task["claimed_by"].as_str().unwrap();
        match by_task.get(id) {
            Some(winner) => assert_eq!(holder, *winner, "{id} on the branch"),
            None => assert!(
                claims.kept.iter().any(|(agent, kept)| kept == id && agent == holder),
                "{id} is held by {holder}, who was never told"
            ),
        }
    }
    let log = env.git_in(dir, &["log", "--format=%s", "orc"]);
    let claim_commits = log.lines().filter(|s| s.starts_with("orc: claim ")).count();
    assert_eq!(claim_commits, tasks.len(), "one claim commit per task");
}

#[test]
fn sixteen_servers_racing_next_claim_each_task_once() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    let tasks: BTreeSet<String> = (0..100).map(|i| env.add_task("api", &format!("task {i}"), &[])).collect();
    let claims = runtime().block_on(async {
        let clients = servers(&env, &env.repo, 16, 0).await;
        race(clients).await
    });
    claimed_once(&env, &env.repo, &claims, &tasks);
}

#[test]
fn sixteen_servers_on_two_clones_racing_next_through_a_remote_claim_each_task_once() {
    let env = TestEnv::new();
    let (_remote, b) = env.second_machine();
    env.orc(&["ws", "create", "api"]).success();
    let tasks: BTreeSet<String> = (0..100).map(|i| env.add_task("api", &format!("task {i}"), &[])).collect();
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    let claims = runtime().block_on(async {
        let mut clients = servers(&env, &env.repo, 8, 0).await;
        clients.extend(servers(&env, &b, 8, 8).await);
        race(clients).await
    });
    // Every claim was published before it was reported: after both clones
    // sync, each holds the same answer.
    env.orc(&["sync"]).success();
    env.orc_in(&b, &["sync"]).success();
    claimed_once(&env, &env.repo, &claims, &tasks);
    claimed_once(&env, &b, &claims, &tasks);
}

/// One HTTP/1.0 exchange (the connection closes after the answer, so the
/// body is everything after the headers): the status and the body.
async fn http_post(addr: std::net::SocketAddr, host: &str, headers: &[(&str, &str)], body: &Value) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut request = format!(
        "POST /mcp HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += &body;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (status, body.to_string())
}

/// The JSON-RPC result of a request the server must answer with 200.
async fn rpc(addr: std::net::SocketAddr, agent: Option<&str>, method: &str, params: Value) -> Value {
    let mut headers = vec![("MCP-Protocol-Version", "2025-11-25")];
    if let Some(agent) = agent {
        headers.push(("X-Orc-Agent", agent));
    }
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, body) = http_post(addr, "127.0.0.1", &headers, &request).await;
    assert_eq!(status, 200, "{method}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method}: {e}: {body}"));
    answer.get("result").cloned().unwrap_or_else(|| panic!("{method}: no result: {answer}"))
}

#[test]
fn the_http_router_serves_the_same_tools_over_streamable_http() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    runtime().block_on(async {
        let config = orc::mcp::Config { dir: env.repo.clone(), agent: None };
        let router = axum::Router::new().nest_service("/mcp", orc::mcp::http_router(config, vec![]).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, router).await });

        let init = json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}});
        let info = rpc(addr, None, "initialize", init).await;
        assert_eq!(info["protocolVersion"], "2025-11-25");
        assert_eq!(info["serverInfo"]["name"], "orc");
        let tools = rpc(addr, None, "tools/list", json!({})).await;
        assert_eq!(tools["tools"].as_array().unwrap().len(), TOOLS.len());

        // The agent a request names acts; without one, the git user adds
        // work and an agent's operation says how to name one.
        let call = |name: &str, args: Value| json!({"name": name, "arguments": args});
        let alive = rpc(addr, Some("agent-h"), "tools/call", call("orc_heartbeat", json!({}))).await;
        assert_eq!(alive["structuredContent"]["id"], "agent-h", "{alive}");
        let added =
            rpc(addr, None, "tools/call", call("orc_add_task", json!({"workstream": "api", "title": "over http"}))).await;
        assert_eq!(added["structuredContent"]["created_by"], "Test Person", "{added}");
        let refused = rpc(addr, None, "tools/call", call("orc_next", json!({}))).await;
        assert_eq!(refused["isError"], true);
        assert_eq!(refused["structuredContent"]["error"]["kind"], "no_agent", "{refused}");
        let next = rpc(addr, Some("agent-h"), "tools/call", call("orc_next", json!({}))).await;
        assert_eq!(next["structuredContent"]["task"]["claimed_by"], "agent-h", "{next}");
        assert_eq!(env.orc(&["status", "--json"]).success().json()["claimed"][0]["claimed_by"], "agent-h");

        // A Host that is not this machine is refused (DNS rebinding).
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        let (status, _) = http_post(addr, "evil.example", &[("MCP-Protocol-Version", "2025-11-25")], &request).await;
        assert_eq!(status, 403);
        server.abort();
    });
}
