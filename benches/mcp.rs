//! `orc_next` over one persistent MCP session (`orc mcp` on stdio, driven
//! by rmcp's client) against the CLI's `orc next --json` (a whole process
//! per claim), interleaved in the same run on the same board; and the size
//! of `tools/list`.
//!
//! `cargo bench --bench mcp` (ORC_BENCH_QUICK=1 for a short run). Prints a
//! Markdown table.

mod support;
use support::build_orc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;

/// A hermetic command: no user or system git config, a private HOME.
fn command(program: &Path, dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

fn run(program: &Path, dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = command(program, dir, home).args(args).output().expect("runs");
    assert!(out.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Median, p99 (nearest rank) and max.
fn summary(samples: &[f64]) -> (f64, f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    (at(0.5), at(0.99), sorted[sorted.len() - 1])
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("ORC_BENCH_QUICK").is_some();
    let rounds = if quick { 20 } else { 150 };
    let orc = build_orc();
    let git = PathBuf::from("git");
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = tmp.path().join("home");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    run(&git, &repo, &home, &["init", "-q", "-b", "main"]);
    run(&git, &repo, &home, &["config", "user.name", "bench"]);
    run(&git, &repo, &home, &["config", "user.email", "bench@example.com"]);
    run(&git, &repo, &home, &["commit", "-q", "--allow-empty", "-m", "start"]);
    run(&orc, &repo, &home, &["ws", "create", "bench"]);
    // Both sides claim from the same board, each its own task every time.
    for i in 0..(2 * rounds + 2) {
        run(&orc, &repo, &home, &["t", "add", "bench", &format!("task {i}")]);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (mcp, cli, tools_bytes) = runtime.block_on(async {
        let mut server = tokio::process::Command::from(command(&orc, &repo, &home));
        server.arg("mcp").env("ORC_AGENT", "mcp-agent");
        let client = ().serve(TokioChildProcess::new(server).unwrap()).await.expect("handshake");
        let tools = client.list_all_tools().await.unwrap();
        let tools_bytes = serde_json::to_string(&serde_json::json!({"tools": tools})).unwrap().len();
        let next = || client.call_tool(CallToolRequestParams::new("orc_next"));
        // Warm both paths once (page cache, the task cache).
        assert_ne!(next().await.unwrap().is_error, Some(true));
        run(&orc, &repo, &home, &["next", "--json", "--agent", "cli-agent"]);

        let (mut mcp, mut cli) = (Vec::new(), Vec::new());
        for n in 0..rounds {
            let time_mcp = async {
                let start = Instant::now();
                let result = next().await.unwrap();
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                assert_ne!(result.is_error, Some(true), "orc_next: {result:?}");
                ms
            };
            let time_cli = || {
                let start = Instant::now();
                run(&orc, &repo, &home, &["next", "--json", "--agent", "cli-agent"]);
                start.elapsed().as_secs_f64() * 1000.0
            };
            // Alternate which goes first, so drift hits both alike.
            if n % 2 == 0 {
                mcp.push(time_mcp.await);
                cli.push(time_cli());
            } else {
                cli.push(time_cli());
                mcp.push(time_mcp.await);
            }
        }
        client.cancel().await.unwrap();
        (mcp, cli, tools_bytes)
    });

    let listed = run(&orc, &repo, &home, &["t", "list", "--json", "--status", "claimed"]);
    let claimed = serde_json::from_str::<serde_json::Value>(&listed).unwrap().as_array().map_or(0, Vec::len);
    assert_eq!(claimed, 2 * rounds + 2, "every claim landed");

    let (m50, m99, mmax) = summary(&mcp);
    let (c50, c99, cmax) = summary(&cli);
    println!("# orc mcp benchmark\n");
    println!(
        "Machine: {} cores. Claim the best ready task, wall-clock ms, {rounds} rounds, the two interleaved on one board.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| claim | n | median ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|");
    println!("| `orc_next` over one MCP session | {rounds} | {m50:.1} | {m99:.1} | {mmax:.1} |");
    println!("| `orc next --json` (a process per claim) | {rounds} | {c50:.1} | {c99:.1} | {cmax:.1} |");
    println!("\nMedian ratio MCP / CLI: {:.2}.", m50 / c50);
    println!("\n`tools/list`: {tools_bytes} bytes, about {} tokens (bytes / 4).", tools_bytes / 4);
}
