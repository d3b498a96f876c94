//! `orc serve`: starts the HTTP server over this repository and runs it
//! until interrupted (Ctrl-C or SIGTERM).

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use super::output::Output;
use super::Ctx;
use crate::error::{Error, Kind, Result};
use crate::session::Publish;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port). Beyond loopback, reads need the token too
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7787")]
    pub listen: String,
    /// Open the live dashboard in a browser once listening
    #[arg(long)]
    pub open: bool,
}

pub fn serve(orc: &Ctx, args: &ServeArgs) -> Result<Output> {
    let addr: SocketAddr = args.listen.parse().map_err(|_| {
        Error::new(Kind::Usage, format!("--listen {:?} is not an address with a port", args.listen))
            .with_hint("for example --listen 127.0.0.1:7787, or 127.0.0.1:0 for any free port")
    })?;
    if std::env::var_os("ORC_SEED").is_some() {
        return Err(Error::new(Kind::Usage, "ORC_SEED would give every request the same ids")
            .with_hint("unset ORC_SEED to run orc serve"));
    }
    // Checked once here, so a bad ORC_NOW fails at start, not per request.
    crate::session::Clock::from_env()?;
    let person = super::resolve_person(&orc.repo)?;
    let publish = orc.session.publish;
    let (token, from_env) = crate::serve::load_token(&orc.repo)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", &e))?;
    runtime.block_on(run(orc.repo.clone(), person, publish, token, from_env, addr, args.open))?;
    Ok(Output::new(serde_json::json!({"stopped": true}), "orc serve: stopped"))
}

async fn run(
    repo: Arc<crate::api::Repo>,
    person: String,
    publish: Publish,
    token: String,
    token_from_env: bool,
    addr: SocketAddr,
    open: bool,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::io(&format!("cannot listen on {addr}"), &e)
            .with_hint("pick another port with --listen, or stop what holds it")
    })?;
    let bound = listener.local_addr().map_err(|e| Error::io("cannot read the bound address", &e))?;
    let repo_dir = repo.dir().to_path_buf();
    let server = crate::serve::Server::new(repo, person, publish, token.clone(), bound);
    // MCP over streamable HTTP at /mcp, behind the same guard (token, Host,
    // Origin); a request names its agent in `X-Orc-Agent`.
    let mcp_hosts = vec![bound.ip().to_string(), "localhost".into(), "127.0.0.1".into(), "::1".into()];
    let mcp = crate::mcp::http_router(crate::mcp::Config { dir: repo_dir, agent: None }, mcp_hosts)?;
    let app = crate::serve::router_with(&server, axum::Router::new().nest_service("/mcp", mcp));
    let base = format!("http://{bound}");
    let page = format!("{base}/?token={token}");
    // The first line is for scripts and tests: they read the address here.
    println!("orc serve: listening on {base}");
    if token_from_env {
        eprintln!("orc serve: live dashboard at {base}/?token=$ORC_SERVE_TOKEN");
    } else {
        eprintln!("orc serve: live dashboard at {page}");
        eprintln!("orc serve: the write token is in .git/orc/serve.token");
    }
    if !bound.ip().is_loopback() {
        eprintln!(
            "warning: listening beyond this machine; every request needs the token, and traffic is not encrypted"
        );
    }
    if open {
        open_browser(&page);
    }
    let stopping = async {
        shutdown_signal().await;
        eprintln!("orc serve: stopping");
    };
    crate::serve::serve_until(listener, app, server, stopping).await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("warning: could not open a browser ({opener}: {e}); open the address above yourself");
    }
}
