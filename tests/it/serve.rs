//! `orc serve`: the real binary on 127.0.0.1 (port 0, the bound address
//! read from its first line of output), a real HTTP client, real git.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};

use serde_json::{json, Value};

use crate::common::{TestEnv, ORC};

/// Numbers each server's log file.
static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A running `orc serve`, stopped when dropped.
pub struct Served {
    child: Child,
    pub base: String,
    pub token: String,
    stderr: PathBuf,
}

/// One answer: status, body (JSON when it parses, else a string), headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: BTreeMap<String, String>,
}

impl Reply {
    #[track_caller]
    pub fn kind(&self) -> &str {
        self.body["error"]["kind"].as_str().unwrap_or_else(|| panic!("not an error: {self:?}"))
    }

    #[track_caller]
    pub fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        self.body
    }
}

impl Served {
    /// Starts `orc serve` in `dir` with extra environment and arguments,
    /// and returns once it printed the address it listens on.
    pub fn start_with(env: &TestEnv, dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Self {
        let stderr = env.root.join(format!("serve-{}.err", SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        let mut cmd = env.command(ORC, dir);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd.spawn().expect("orc serve starts");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let Some(base) = first.trim().strip_prefix("orc serve: listening on ") else {
            let _ = child.wait();
            panic!("orc serve did not start: {first:?}\n{}", std::fs::read_to_string(&stderr).unwrap_or_default());
        };
        let token = match vars.iter().find(|(k, _)| *k == "ORC_SERVE_TOKEN") {
            Some((_, token)) => token.to_string(),
            None => std::fs::read_to_string(dir.join(".git/orc/serve.token")).unwrap().trim().to_string(),
        };
        Self { child, base: base.to_string(), token, stderr }
    }

    pub fn start(env: &TestEnv) -> Self {
        Self::start_with(env, &env.repo, &[], &[])
    }

    /// Sends one request; `auth` adds the bearer token.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>, auth: bool, headers: &[(&str, &str)]) -> Reply {
        let mut request = ureq::request(method, &format!("{}{path}", self.base));
        if auth {
            request = request.set("Authorization", &format!("Bearer {}", self.token));
        }
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(body) => request.set("Content-Type", "application/json").send_string(&body.to_string()),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .map(|n| (n.clone(), response.header(&n).unwrap_or("").to_string()))
            .collect();
        let text = response.into_string().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body, headers }
    }

    /// Sends `text` as the body as it is (not JSON-encoded).
    pub fn send_text(&self, method: &str, path: &str, text: &str, auth: bool) -> Reply {
        let mut request =
            ureq::request(method, &format!("{}{path}", self.base)).set("Content-Type", "application/json");
        if auth {
            request = request.set("Authorization", &format!("Bearer {}", self.token));
        }
        let response = match request.send_string(text) {
            Ok(response) | Err(ureq::Error::Status(_, response)) => response,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let body = serde_json::from_str(&response.into_string().unwrap()).unwrap_or(Value::Null);
        Reply { status, body, headers: BTreeMap::new() }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, false, &[])
    }

    /// A write with the token.
    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(&body), true, &[])
    }

    /// Sends raw bytes and returns the status line and everything after it.
    pub fn raw(&self, request: &str) -> String {
        let addr = self.base.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tasks_of(server: &Served, ws: &str, count: usize) -> BTreeSet<String> {
    server.post("/api/workstreams", json!({"name": ws})).ok(201);
    (0..count)
        .map(|i| {
            let task =
                server.post(&format!("/api/workstreams/{ws}/tasks"), json!({"title": format!("task {i}")})).ok(201);
            task["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The seed's quick start over HTTP, with the seed's bodies, answers with
/// the same objects the CLI prints.
#[test]
fn the_seeds_routes_and_bodies_work_and_answer_as_the_cli_does() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    let ws =
        server.post("/api/workstreams", json!({"name": "revenue", "description": "Revenue generation", "priority": 1}));
    assert_eq!(ws.ok(201)["name"], "revenue");
    server
        .post("/api/workstreams", json!({"name": "product", "description": "Product development", "priority": 2}))
        .ok(201);
    let task = server
        .post(
            "/api/workstreams/revenue/tasks",
            json!({"title": "Add payments to API", "description": "Integrate USDC", "priority": 1, "estimate": "2h"}),
        )
        .ok(201);
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!((task["status"].as_str(), task["created_by"].as_str()), (Some("open"), Some("Test Person")));
    server.post("/api/workstreams/product/tasks", json!({"title": "Write tests", "priority": 3})).ok(201);
    let agent = server.post("/api/agents", json!({"id": "agent-1", "type": "worker"})).ok(201);
    assert_eq!((agent["id"].as_str(), agent["role"].as_str()), (Some("agent-1"), Some("worker")));

    let claimed = server.post("/api/workstreams/revenue/next", json!({"agent": "agent-1"})).ok(200);
    assert_eq!((claimed["id"].as_str(), claimed["claimed_by"].as_str()), (Some(id.as_str()), Some("agent-1")));
    let shown_by_cli = env.orc(&["t", "show", &id, "--json"]).success().json();
    let shown = server.get(&format!("/api/tasks/{id}")).ok(200);
    for field in
        ["id", "workstream", "title", "status", "claimed_by", "claimed_at", "claim_token", "after", "created_by"]
    {
        assert_eq!(shown[field], shown_by_cli[field], "{field}");
    }
    let done = server
        .post(&format!("/api/workstreams/revenue/tasks/{id}/complete"), json!({"result": "Done: integrated payments"}))
        .ok(200);
    assert_eq!((done["status"].as_str(), done["result"].as_str()), (Some("done"), Some("Done: integrated payments")));

    let put = server.send("PUT", "/api/knowledge/api-design", Some(&json!({"content": "Use REST"})), true, &[]);
    assert_eq!(put.ok(200)["topic"], "api-design");
    server.post("/api/knowledge/api-design", json!({"content": "and events"})).ok(200);
    let appended = server.get("/api/knowledge/api-design").ok(200)["content"].as_str().unwrap().to_string();
    assert!(appended.starts_with("Use REST") && appended.ends_with("and events"), "{appended:?}");
    server.send("PUT", "/api/knowledge/services/auth", Some(&json!({"text": "# Auth"})), true, &[]).ok(200);
    let topics = server.get("/api/knowledge").ok(200);
    assert_eq!(topics.as_array().unwrap().len(), 2, "{topics}");
    assert_eq!(server.get("/api/knowledge/services/auth").ok(200)["content"], "# Auth");
    server.send("DELETE", "/api/knowledge/services/auth", None, true, &[]).ok(200);
    assert_eq!(server.get("/api/knowledge/services/auth").kind(), "not_found");

    let lock = server.post("/api/locks", json!({"resource": "git", "agent": "agent-1", "ttl": 60000})).ok(200);
    assert_eq!((lock["holder"].as_str(), lock["token"].as_u64()), (Some("agent-1"), Some(1)));
    assert_eq!(server.get("/api/locks").ok(200).as_array().unwrap().len(), 1);
    let taken = server.post("/api/locks", json!({"resource": "git", "agent": "agent-2", "ttl": "5m"}));
    assert_eq!((taken.status, taken.kind()), (409, "lock_held"));
    server.send("DELETE", "/api/locks/git", Some(&json!({"agent": "agent-1"})), true, &[]).ok(200);
    assert_eq!(server.get("/api/locks").ok(200), json!([]));

    let beat = server.post("/api/agents/agent-1/heartbeat", json!({"status": "reviewing"})).ok(200);
    assert_eq!(beat["status"], "reviewing");
    assert_eq!(server.get("/api/agents").ok(200).as_array().unwrap().len(), 1);
    let claims = server.get("/api/events?type=task.claim").ok(200);
    assert_eq!(claims.as_array().unwrap().len(), 1, "{claims}");
    assert_eq!(server.get("/api/events?action=task.claim&agent=agent-1&last=5").ok(200), claims);
    let status = server.get("/api/status").ok(200);
    assert_eq!(status["tasks"]["done"], 1);
    assert_eq!(status, env.orc(&["status", "--json"]).success().json(), "GET /api/status is `orc status --json`");
    let ws_list = server.get("/api/workstreams").ok(200);
    assert_eq!(ws_list, env.orc(&["ws", "list", "--json"]).success().json());
    assert_eq!(server.get("/api/workstreams/revenue/tasks").ok(200).as_array().unwrap().len(), 1);
    assert_eq!(server.get("/api/workstreams/product/tasks?status=open").ok(200).as_array().unwrap().len(), 1);
    assert_eq!(server.get("/api/workstreams/revenue").ok(200)["task_list"][0]["id"], id.as_str());
    let ready = server.get("/api/ready").ok(200);
    assert_eq!(ready, env.orc(&["ready", "--json"]).success().json());
}

#[test]
fn task_changes_wait_and_sync_go_through_the_library() {
    let env = TestEnv::new();
    let remote = env.add_bare_remote();
    let server = Served::start(&env);
    let ids: Vec<String> = tasks_of(&server, "w", 3).into_iter().collect();
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    server.post(&format!("/api/tasks/{a}/claim"), json!({"agent": "a1"})).ok(200);
    // Published before success: the remote has the claim already.
    let remote_tip = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "rev-parse", "orc"]);
    assert_eq!(remote_tip, env.tip(), "a claim answers only once the remote accepted it");
    let released = server.post(&format!("/api/workstreams/w/tasks/{a}/release"), json!({"agent": "a1"})).ok(200);
    assert_eq!(released["status"], "open");
    server.post(&format!("/api/tasks/{b}/claim"), json!({"agent": "a1"})).ok(200);
    let failed = server.post(&format!("/api/tasks/{b}/fail"), json!({"agent": "a1", "reason": "no key"})).ok(200);
    assert_eq!((failed["status"].as_str(), failed["result"].as_str()), (Some("failed"), Some("no key")));
    assert_eq!(server.post(&format!("/api/tasks/{b}/retry"), json!({})).ok(200)["status"], "open");
    let cancelled = server.post(&format!("/api/tasks/{c}/cancel"), json!({"reason": "not needed"})).ok(200);
    assert_eq!(cancelled["status"], "cancelled");
    let terminal = server.post(&format!("/api/tasks/{c}/claim"), json!({"agent": "a1"}));
    assert_eq!((terminal.status, terminal.kind()), (409, "terminal"));

    // A long poll answers when the task is done, whoever finished it.
    let claimed = server.post("/api/next", json!({"agent": "a2"})).ok(200);
    let id = claimed["id"].as_str().unwrap().to_string();
    let base = server.base.clone();
    let waiter = std::thread::spawn({
        let id = id.clone();
        move || ureq::get(&format!("{base}/api/tasks/{id}/wait?timeout=60s")).call().unwrap().into_json::<Value>()
    });
    // The wait is registered once it holds the request; the CLI finishes
    // the task whatever the order, and the wait must see it either way.
    env.orc(&["complete", &id, "shipped", "--agent", "a2"]).success();
    let waited = waiter.join().unwrap().unwrap();
    assert_eq!((waited["id"].as_str(), waited["status"].as_str()), (Some(id.as_str()), Some("done")));
    let still_open = if id == *a { b } else { a };
    let timeout = server.get(&format!("/api/tasks/{still_open}/wait?timeout=1s"));
    assert_eq!((timeout.status, timeout.kind()), (409, "timeout"));

    env.orc(&["kb", "write", "local-only", "x"]).success();
    let report = server.post("/api/sync", json!({})).ok(200);
    assert_eq!(report["remote"], "origin", "{report}");
    let on_remote = env.git_in(&env.root, &["--git-dir", remote.to_str().unwrap(), "rev-parse", "orc"]);
    assert_eq!(on_remote, env.tip());
}

#[test]
fn every_error_has_its_status_and_the_error_object() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    let ids = tasks_of(&server, "w", 1);
    let id = ids.first().unwrap();

    let no_token = server.send("POST", "/api/workstreams", Some(&json!({"name": "x"})), false, &[]);
    assert_eq!((no_token.status, no_token.headers.get("www-authenticate").map(String::as_str)), (401, Some("Bearer")));
    let wrong_token = server.send(
        "POST",
        "/api/workstreams",
        Some(&json!({"name": "x"})),
        false,
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!((wrong_token.status, wrong_token.kind()), (401, "unauthorized"));
    let foreign = server.send(
        "POST",
        "/api/workstreams",
        Some(&json!({"name": "x"})),
        true,
        &[("Origin", "https://evil.example")],
    );
    assert_eq!((foreign.status, foreign.kind()), (403, "forbidden"));
    let cross_site =
        server.send("POST", "/api/workstreams", Some(&json!({"name": "x"})), true, &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(cross_site.status, 403);
    let cross_site_read =
        server.send("GET", "/api/status", None, false, &[("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "cors")]);
    assert_eq!(cross_site_read.status, 403, "another site's page may not read either");
    let link_from_elsewhere =
        server.send("GET", "/", None, false, &[("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "navigate")]);
    assert_eq!(link_from_elsewhere.status, 200, "a link from another site opens the page");
    let own_origin = server.base.clone();
    server.send("POST", "/api/workstreams", Some(&json!({"name": "own"})), true, &[("Origin", &own_origin)]).ok(201);
    let rebound = server.raw("GET /api/status HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n");
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    assert!(rebound.contains("\"wrong_host\""), "{rebound}");
    assert!(!rebound.to_ascii_lowercase().contains("access-control-allow-origin"), "{rebound}");

    let huge_header = server.raw(&format!(
        "GET /api/status HTTP/1.1\r\nHost: {}\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
        server.base.strip_prefix("http://").unwrap(),
        "x".repeat(100 * 1024)
    ));
    assert!(huge_header.starts_with("HTTP/1.1 431") || huge_header.is_empty(), "headers are capped: {huge_header:.80}");
    let big = json!({"content": "x".repeat(9 * 1024 * 1024)});
    let too_big = server.send("PUT", "/api/knowledge/big", Some(&big), true, &[]);
    assert_eq!((too_big.status, too_big.kind()), (413, "too_large"));
    let not_json = server.send_text("POST", "/api/workstreams", "{\"name\":", true);
    assert_eq!((not_json.status, not_json.kind()), (400, "usage"));
    let bad_name = server.post("/api/workstreams", json!({"name": "../etc"}));
    assert_eq!((bad_name.status, bad_name.kind()), (422, "invalid_input"));
    assert!(bad_name.body["error"]["message"].as_str().unwrap().contains("path separator"), "{:?}", bad_name.body);
    let bad_priority = server.post("/api/workstreams/w/tasks", json!({"title": "t", "priority": 12}));
    assert_eq!(bad_priority.status, 422);
    let bad_ttl = server.post("/api/locks", json!({"resource": "db", "agent": "a1", "ttl": 1500}));
    assert_eq!(bad_ttl.status, 422);
    let no_agent = server.post(&format!("/api/tasks/{id}/claim"), json!({}));
    assert_eq!((no_agent.status, no_agent.kind()), (422, "no_agent"));
    let missing = server.get("/api/tasks/t-zzzzzzzzzz");
    assert_eq!((missing.status, missing.kind()), (404, "not_found"));
    let missing_ws = server.get("/api/workstreams/nope/tasks");
    assert_eq!((missing_ws.status, missing_ws.kind()), (404, "not_found"));
    let no_route = server.get("/api/nothing-here");
    assert_eq!((no_route.status, no_route.kind()), (404, "not_found"));
    let wrong_method = server.send("PATCH", "/api/status", None, true, &[]);
    assert_eq!(wrong_method.status, 405);

    server.post(&format!("/api/tasks/{id}/claim"), json!({"agent": "a1"})).ok(200);
    let taken = server.post(&format!("/api/tasks/{id}/claim"), json!({"agent": "a2"}));
    assert_eq!((taken.status, taken.kind()), (409, "already_claimed"));
    assert!(
        taken.body["error"]["message"].as_str().unwrap().contains("a1"),
        "the loser is told who won: {:?}",
        taken.body
    );
    let nothing = server.post("/api/workstreams/w/next", json!({"agent": "a2"}));
    assert_eq!((nothing.status, nothing.kind()), (409, "nothing_ready"));

    // ETag is the tip; If-None-Match answers 304; a stale If-Match 412.
    let status = server.get("/api/status");
    let etag = status.headers["etag"].clone();
    assert_eq!(etag, format!("\"{}\"", env.tip()));
    let unchanged = server.send("GET", "/api/status", None, false, &[("If-None-Match", &etag)]);
    assert_eq!(unchanged.status, 304);
    let fresh =
        server.send("POST", "/api/workstreams/w/tasks", Some(&json!({"title": "one"})), true, &[("If-Match", &etag)]);
    assert_eq!(fresh.status, 201);
    let tip_after = env.tip();
    let stale =
        server.send("POST", "/api/workstreams/w/tasks", Some(&json!({"title": "two"})), true, &[("If-Match", &etag)]);
    assert_eq!((stale.status, stale.kind()), (412, "tip_moved"));
    assert_eq!(env.tip(), tip_after, "a refused If-Match writes nothing");

    // An idempotent retry returns the first answer and writes once.
    let key = [("Idempotency-Key", "add-report-7")];
    let first = server.send("POST", "/api/workstreams/w/tasks", Some(&json!({"title": "report"})), true, &key).ok(201);
    let tip = env.tip();
    let again = server.send("POST", "/api/workstreams/w/tasks", Some(&json!({"title": "report"})), true, &key).ok(201);
    assert_eq!(first["id"], again["id"]);
    assert_eq!(env.tip(), tip, "the retry wrote nothing");
    let reused = server.send("POST", "/api/workstreams/w/tasks", Some(&json!({"title": "other"})), true, &key);
    assert_eq!((reused.status, reused.kind()), (422, "key_reused"));
}

#[test]
fn sixteen_clients_racing_next_claim_each_of_200_tasks_once() {
    let env = TestEnv::new();
    let server = Arc::new(Served::start(&env));
    let ids = tasks_of(&server, "w", 200);
    let barrier = Arc::new(Barrier::new(16));
    let claims: Vec<Vec<String>> = (0..16)
        .map(|n| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut mine = Vec::new();
                loop {
                    let reply = server.post("/api/workstreams/w/next", json!({"agent": format!("agent-{n}")}));
                    match reply.status {
                        200 => mine.push(reply.body["id"].as_str().unwrap().to_string()),
                        409 if reply.kind() == "nothing_ready" => return mine,
                        _ => panic!("{reply:?}"),
                    }
                }
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let all: Vec<&String> = claims.iter().flatten().collect();
    let unique: BTreeSet<String> = all.iter().map(|s| (*s).clone()).collect();
    assert_eq!(all.len(), 200, "every task claimed once, none twice");
    assert_eq!(unique, ids);
    let claim_commits =
        env.git(&["log", "--format=%s", "orc"]).lines().filter(|s| s.starts_with("orc: claim ")).count();
    assert_eq!(claim_commits, 200);

    // Sixteen clients on one task: one winner, fifteen told who it is.
    let id = tasks_of(&server, "one", 1).into_iter().next().unwrap();
    let barrier = Arc::new(Barrier::new(16));
    let replies: Vec<Reply> = (0..16)
        .map(|n| {
            let (server, barrier, id) = (server.clone(), barrier.clone(), id.clone());
            std::thread::spawn(move || {
                barrier.wait();
                server.post(&format!("/api/workstreams/one/tasks/{id}/claim"), json!({"agent": format!("racer-{n}")}))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    let winner = winners[0].body["claimed_by"].as_str().unwrap();
    for loser in replies.iter().filter(|r| r.status != 200) {
        assert_eq!((loser.status, loser.kind()), (409, "already_claimed"));
        assert!(loser.body["error"]["message"].as_str().unwrap().contains(winner), "{loser:?}");
    }
}

#[test]
fn the_cli_and_the_server_racing_on_one_repository_claim_each_task_once() {
    let env = Arc::new(TestEnv::new());
    let server = Arc::new(Served::start(&env));
    let ids = tasks_of(&server, "w", 60);
    let barrier = Arc::new(Barrier::new(8));
    let mut threads = Vec::new();
    for n in 0..4 {
        let (server, barrier) = (server.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            barrier.wait();
            let mut mine = Vec::new();
            loop {
                let reply = server.post("/api/workstreams/w/next", json!({"agent": format!("http-{n}")}));
                if reply.status != 200 {
                    assert_eq!(reply.kind(), "nothing_ready", "{reply:?}");
                    return mine;
                }
                mine.push(reply.body["id"].as_str().unwrap().to_string());
            }
        }));
    }
    for n in 0..4 {
        let (env, barrier) = (env.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            barrier.wait();
            let mut mine = Vec::new();
            loop {
                let run = env.orc(&["t", "next", "w", &format!("cli-{n}"), "--json"]);
                if run.code != 0 {
                    assert_eq!(run.error_kind(), "nothing_ready", "{run}");
                    return mine;
                }
                mine.push(run.json()["id"].as_str().unwrap().to_string());
            }
        }));
    }
    let all: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(all.len(), ids.len(), "no task claimed twice");
    assert_eq!(all.into_iter().collect::<BTreeSet<_>>(), ids);
}

/// Every route the OpenAPI document lists is served (not a 404 "no
/// route" or a 405), so the document cannot list a route that is gone.
#[test]
fn the_openapi_document_lists_only_routes_that_are_served() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    let doc = server.get("/api/openapi.json").ok(200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{}", paths.len());
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if path == "/api/stream" || path.ends_with("/wait") {
                continue;
            }
            let concrete = path.replace("{ws}", "w").replace("{id}", "t-zzzzzzzzzz").replace("{topic}", "a/b");
            let concrete = concrete.replace("{resource}", "db").replace("{id}", "a1");
            let reply = server.send(&method.to_uppercase(), &concrete, Some(&json!({})), true, &[]);
            let no_route = reply.status == 404
                && reply.body["error"]["message"].as_str().is_some_and(|m| m.starts_with("no route"));
            assert!(!no_route && reply.status != 405, "{method} {path}: {reply:?}");
        }
    }
    let show = &doc["paths"]["/api/tasks/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(show["$ref"], "#/components/schemas/Task", "{show}");
    let listing = &doc["paths"]["/api/ready"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(listing["items"]["$ref"], "#/components/schemas/Task", "{listing}");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas["Task"]["properties"]["claim_token"].is_object(), "{}", schemas["Task"]);
    let new_task = &schemas["NewTask"];
    assert_eq!(new_task["required"], json!(["title"]), "{new_task}");
    assert!(schemas.contains_key("WorkstreamName") && schemas.contains_key("ErrorResponse"), "{schemas:?}");
}

/// Validates the document with the OpenAPI project's reference validator
/// (Python's openapi-spec-validator).
#[test]
#[ignore = "needs python3 with openapi-spec-validator (pip install openapi-spec-validator); .ci/run installs it and runs this"]
fn the_openapi_document_validates() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    let doc = server.get("/api/openapi.json").ok(200);
    let file = env.root.join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let python = std::env::var("ORC_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let run = std::process::Command::new(python)
        .args(["-c", "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(run.status.success(), "{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
}

#[test]
fn the_live_page_is_the_dashboard_with_its_script_and_signs_in_by_cookie() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    server.post("/api/workstreams", json!({"name": "w"})).ok(201);
    server.post("/api/workstreams/w/tasks", json!({"title": "<img src=x onerror=alert(1)>"})).ok(201);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    let csp = &page.headers["content-security-policy"];
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline'; script")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = page.body.as_str().unwrap();
    assert!(html.contains("<script src=\"/assets/live.js\" defer></script>") && html.contains("id=\"form-claim\""));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains("<img src=x"), "the title is text");
    // The static page renders from the same template, without the script.
    env.orc(&["dashboard", "--out", env.root.join("out").to_str().unwrap()]).success();
    let static_page = std::fs::read_to_string(env.root.join("out/docs/index.html")).unwrap();
    assert!(!static_page.contains("<script") && static_page.contains("id=\"count-tasks\""));
    assert!(server.get("/assets/live.js").body.as_str().unwrap().contains("EventSource"));

    // /?token= trades the token for an HttpOnly, SameSite=Strict cookie.
    let signed_in = server.raw(&format!(
        "GET /?token={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.token,
        server.base.strip_prefix("http://").unwrap()
    ));
    assert!(signed_in.starts_with("HTTP/1.1 303"), "{signed_in}");
    let port = server.base.rsplit(':').next().unwrap();
    let cookie_line = signed_in.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    assert!(
        cookie_line.contains(&format!("orc_token_{port}={}", server.token))
            && cookie_line.contains("HttpOnly")
            && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let cookie = format!("orc_token_{port}={}", server.token);
    let origin = server.base.clone();
    let by_page = server.send(
        "POST",
        "/api/workstreams",
        Some(&json!({"name": "p"})),
        false,
        &[("Cookie", &cookie), ("Origin", &origin)],
    );
    assert_eq!(by_page.status, 201, "{by_page:?}");
    let forged = server.send("POST", "/api/workstreams", Some(&json!({"name": "q"})), false, &[("Cookie", &cookie)]);
    assert_eq!(forged.status, 403, "a cookie write without an Origin is refused: {forged:?}");
    assert_eq!(server.get(&format!("/?token={}x", server.token)).status, 401);
}

#[test]
fn the_event_stream_names_each_new_tip_and_resumes_from_last_event_id() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    server.post("/api/workstreams", json!({"name": "w"})).ok(201);
    let addr = server.base.strip_prefix("http://").unwrap().to_string();
    let open = |last: Option<&str>| {
        let mut stream = TcpStream::connect(&addr).unwrap();
        let resume = last.map(|l| format!("Last-Event-ID: {l}\r\n")).unwrap_or_default();
        write!(stream, "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{resume}\r\n")
            .unwrap();
        BufReader::new(stream)
    };
    let next_id = |reader: &mut BufReader<TcpStream>| loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(id) = line.trim_end().strip_prefix("id: ") {
            return id.to_string();
        }
    };
    let mut reader = open(None);
    assert_eq!(next_id(&mut reader), env.tip(), "the first event names the tip now");
    env.orc(&["t", "add", "w", "from the CLI"]).success();
    assert_eq!(next_id(&mut reader), env.tip(), "a CLI write is announced");
    // Resuming at the current tip announces nothing until the next move;
    // resuming at an old one announces the current tip at once.
    let old = env.tip();
    let mut resumed = open(Some(&old));
    env.orc(&["t", "add", "w", "second"]).success();
    assert_eq!(next_id(&mut resumed), env.tip());
    let mut behind = open(Some(&old));
    assert_eq!(next_id(&mut behind), env.tip());
}

#[test]
fn beyond_loopback_reads_need_the_token_and_the_token_file_is_private() {
    let env = TestEnv::new();
    let server = Served::start_with(&env, &env.repo, &[], &[]);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.repo.join(".git/orc/serve.token")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(server.get("/api/status").status, 200, "on loopback reads are open");
    drop(server);

    let mut cmd = env.command(ORC, &env.repo);
    cmd.args(["serve", "--listen", "0.0.0.0:0"])
        .env("ORC_SERVE_TOKEN", "a-long-enough-test-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let port = first.trim().rsplit(':').next().unwrap().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let denied = ureq::get(&format!("{base}/api/status")).call();
    assert!(matches!(denied, Err(ureq::Error::Status(401, _))), "{denied:?}");
    let allowed =
        ureq::get(&format!("{base}/api/status")).set("Authorization", "Bearer a-long-enough-test-token").call();
    assert_eq!(allowed.unwrap().status(), 200);
    assert_eq!(ureq::get(&format!("{base}/healthz")).call().unwrap().status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM: the server stops taking connections, ends event streams,
/// answers the requests in flight whole, and exits 0.
#[test]
fn sigterm_answers_requests_in_flight_and_exits_cleanly() {
    let env = TestEnv::new();
    let mut server = Served::start(&env);
    let id = tasks_of(&server, "w", 1).into_iter().next().unwrap();
    let addr = server.base.strip_prefix("http://").unwrap().to_string();
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(stream, "GET /api/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut events = BufReader::new(stream);
    let mut line = String::new();
    while !line.starts_with("id: ") {
        line.clear();
        events.read_line(&mut line).unwrap();
    }
    // A long poll in flight, registered once its first byte is read back.
    let mut waiting = TcpStream::connect(&addr).unwrap();
    write!(waiting, "GET /api/tasks/{id}/wait?timeout=60s HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Signal only once the server holds the wait and the stream (its own
    // count, read through /healthz, which is itself one request in flight).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let health = server.get("/healthz").ok(200);
        if health["requests_in_flight"].as_u64() >= Some(2) && health["event_streams"].as_u64() >= Some(1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the wait never reached the server: {health}");
        std::thread::yield_now();
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut answer = String::new();
    waiting.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(serde_json::from_str::<Value>(body).unwrap()["error"]["kind"], "busy", "a whole JSON answer");
    let mut rest = String::new();
    let _ = events.read_to_string(&mut rest);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit {status:?}: {}", server.stderr());
    assert!(server.stderr().contains("orc serve: stopping"));
}

/// Headless Chromium over the DevTools protocol: one page, commands sent
/// and answered in order, events kept for inspection.
struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: Vec<Value>,
}

impl Browser {
    fn launch(profile: &Path) -> Self {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromium is not installed (apt-get install chromium; .ci/run installs it)");
        let mut child = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1400",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        // Chromium names its DevTools endpoint on stderr once it listens.
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let endpoint = loop {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "chromium exited before it listened");
            if let Some(at) = line.find("ws://") {
                break line[at..].trim().to_string();
            }
        };
        // Keep draining stderr so chromium never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let http = endpoint.trim_start_matches("ws://").split('/').next().unwrap().to_string();
        let targets: Value = ureq::get(&format!("http://{http}/json/list")).call().unwrap().into_json().unwrap();
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").expect("a page target");
        let (socket, _) = tungstenite::connect(page["webSocketDebuggerUrl"].as_str().unwrap()).unwrap();
        let mut browser = Self { child, socket, next_id: 0, events: Vec::new() };
        browser.call("Runtime.enable", json!({}));
        browser.call("Log.enable", json!({}));
        browser.call("Page.enable", json!({}));
        browser
    }

    /// Sends one command and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(tungstenite::Message::Text(message.into())).unwrap();
        loop {
            let text = self.socket.read().unwrap().into_text().unwrap();
            let reply: Value = serde_json::from_str(text.as_str()).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    /// Evaluates `expression` in the page, awaiting it if it is a promise.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true}));
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// Waits in the page until `condition` holds (checked at every DOM
    /// change, and at least every 50 ms), failing after `limit_ms`.
    fn wait_for(&mut self, condition: &str, limit_ms: u64) -> Value {
        self.eval(&format!(
            "new Promise((resolve, reject) => {{
                const check = () => {{ try {{ return ({condition}); }} catch (e) {{ return false; }} }};
                if (check()) return resolve(true);
                const observer = new MutationObserver(() => {{ if (check()) {{ observer.disconnect(); resolve(true); }} }});
                observer.observe(document, {{subtree: true, childList: true, characterData: true}});
                const tick = setInterval(() => {{ if (check()) {{ clearInterval(tick); observer.disconnect(); resolve(true); }} }}, 50);
                setTimeout(() => {{ observer.disconnect(); reject(new Error('not within {limit_ms} ms: ' + {condition:?})); }}, {limit_ms});
            }})"
        ))
    }

    /// Console errors, uncaught exceptions and content-policy refusals seen.
    fn problems(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| {
                e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
                    || (e["method"] == "Runtime.consoleAPICalled" && e["params"]["type"] == "error")
            })
            .map(Value::to_string)
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The live page in a real browser: a CLI claim in the same repository
/// shows up without a reload, the claim form claims, and a hostile title
/// stays text.
#[test]
#[ignore = "needs chromium (apt-get install chromium); run with `cargo test -- --ignored`, as .ci/run does"]
fn the_live_page_follows_the_cli_and_its_forms_write() {
    let env = TestEnv::new();
    let server = Served::start(&env);
    server.post("/api/workstreams", json!({"name": "web"})).ok(201);
    let hostile = "<img src=x onerror=alert(1)>";
    server.post("/api/workstreams/web/tasks", json!({"title": hostile, "priority": 5})).ok(201);
    let by_cli = server.post("/api/workstreams/web/tasks", json!({"title": "claimed in a terminal"})).ok(201);
    let by_form = server.post("/api/workstreams/web/tasks", json!({"title": "claimed in the page"})).ok(201);
    let (by_cli, by_form) = (by_cli["id"].as_str().unwrap().to_string(), by_form["id"].as_str().unwrap().to_string());

    let mut browser = Browser::launch(&env.root.join("chromium-profile"));
    browser.call("Page.navigate", json!({"url": format!("{}/?token={}", server.base, server.token)}));
    browser.wait_for(
        "document.getElementById('live-state') && document.getElementById('live-state').textContent === 'live'",
        10_000,
    );
    assert_eq!(browser.eval("location.pathname + location.search"), "/", "the sign-in address leaves the bar");
    browser.eval("window.notReloaded = true");

    let claimed_on_page = |id: &str| {
        format!("[...document.querySelectorAll('main li.claimed code')].some(c => c.textContent === '{id}')")
    };
    assert_eq!(browser.eval(&claimed_on_page(&by_cli)), false);
    env.orc(&["t", "claim", &by_cli, "agent-cli"]).success();
    let seen_at = std::time::Instant::now();
    browser.wait_for(&claimed_on_page(&by_cli), 10_000);
    eprintln!("a CLI claim showed on the live page {} ms after the command returned", seen_at.elapsed().as_millis());
    assert_eq!(browser.eval("window.notReloaded === true"), true, "updated without a reload");
    assert_eq!(
        browser.eval("document.getElementById('live-state').textContent"),
        "live",
        "by the event stream, not polling"
    );

    browser.eval(&format!(
        "document.getElementById('act-agent').value = 'agent-web';
         document.querySelector('#form-claim input[name=id]').value = '{by_form}';
         document.getElementById('form-claim').requestSubmit(); true"
    ));
    browser.wait_for("document.getElementById('act-out').textContent.startsWith('claimed')", 10_000);
    let task = server.get(&format!("/api/tasks/{by_form}")).ok(200);
    assert_eq!((task["status"].as_str(), task["claimed_by"].as_str()), (Some("claimed"), Some("agent-web")));
    browser.wait_for(&claimed_on_page(&by_form), 10_000);

    // The other forms: release, complete, add a task, write knowledge.
    let submit = |browser: &mut Browser, form: &str, fields: &[(&str, &str)], said: &str| {
        let fill: String = fields
            .iter()
            .map(|(name, value)| format!("document.querySelector('#{form} [name={name}]').value = {value:?};"))
            .collect();
        browser.eval(&format!("document.getElementById('act-out').textContent = ''; {fill} document.getElementById('{form}').requestSubmit(); true"));
        browser.wait_for(&format!("document.getElementById('act-out').textContent.startsWith({said:?})"), 10_000);
    };
    submit(&mut browser, "form-release", &[("id", &by_form)], "released");
    assert_eq!(server.get(&format!("/api/tasks/{by_form}")).ok(200)["status"], "open");
    submit(&mut browser, "form-claim", &[("id", &by_form)], "claimed");
    submit(&mut browser, "form-complete", &[("id", &by_form), ("result", "done in the page")], "completed");
    let done = server.get(&format!("/api/tasks/{by_form}")).ok(200);
    assert_eq!((done["status"].as_str(), done["result"].as_str()), (Some("done"), Some("done in the page")));
    submit(&mut browser, "form-add", &[("title", "added in the page")], "added");
    browser.wait_for(
        "[...document.querySelectorAll('main li')].some(li => li.textContent.includes('added in the page'))",
        10_000,
    );
    submit(&mut browser, "form-knowledge", &[("topic", "notes/web"), ("content", "# From the page")], "wrote");
    assert_eq!(server.get("/api/knowledge/notes/web").ok(200)["content"], "# From the page");

    let shown_as_text = browser.eval(&format!(
        "[...document.querySelectorAll('main li')].some(li => li.textContent.includes({hostile:?}))
         && document.querySelectorAll('main img').length === 0"
    ));
    assert_eq!(shown_as_text, true, "the hostile title is text");
    assert_eq!(browser.problems(), Vec::<String>::new(), "no console error or refused content");
}

#[test]
fn mcp_over_http_is_served_at_mcp_behind_the_token() {
    let env = TestEnv::new();
    env.orc(&["ws", "create", "api"]).success();
    env.add_task("api", "over mcp", &[]);
    let server = Served::start(&env);
    let mcp = [("Accept", "application/json, text/event-stream"), ("MCP-Protocol-Version", "2025-11-25")];
    let rpc = |method: &str, params: Value| json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let tip = env.tip();

    // Without the token: refused before MCP sees it.
    let anonymous = server.send("POST", "/mcp", Some(&rpc("tools/list", json!({}))), false, &mcp);
    assert_eq!(anonymous.status, 401, "{anonymous:?}");

    let listed = server.send("POST", "/mcp", Some(&rpc("tools/list", json!({}))), true, &mcp).ok(200);
    assert!(listed["result"]["tools"].as_array().unwrap().iter().any(|t| t["name"] == "orc_next"), "{listed}");

    // A call names its agent in X-Orc-Agent; the claim is the library's.
    let mut headers = mcp.to_vec();
    headers.push(("X-Orc-Agent", "agent-m"));
    let call = rpc("tools/call", json!({"name": "orc_next", "arguments": {}}));
    let next = server.send("POST", "/mcp", Some(&call), true, &headers).ok(200);
    assert_eq!(next["result"]["structuredContent"]["task"]["claimed_by"], "agent-m", "{next}");
    assert_ne!(env.tip(), tip);
    let status = env.orc(&["status", "--json"]).success().json();
    assert_eq!(status["claimed"][0]["claimed_by"], "agent-m");
}
