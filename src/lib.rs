//! orc coordinates a team of AI coding agents through git alone: workstreams,
//! tasks, agents and an event log live as files in a dedicated branch of the
//! project's repository, every change is one commit, and claims are won by
//! compare-and-swap on the branch ref.
//!
//! Modules point one way (`tests/it/architecture.rs` checks it):
//!
//! - front ends, `cli`, `hooks`, `serve` (HTTP), `mcp` (Model Context
//!   Protocol) and `work` (the supervisor): arguments, processes, requests,
//!   protocols and output only;
//! - `api`: a `Send + Sync` [`api::Repo`] and on it every rule that spans
//!   operations (publish before success, `next` after a lost race, waiting,
//!   following, lock leases, status, the JSON objects);
//! - `ops` (writes: the engine, the `Orc-Op` envelope, the catalog, one file
//!   per operation) and `sync` (fetch → replay → push);
//! - `read` (what the branch says, and models built from it) and `render`
//!   (templates; reads, never writes);
//! - `model` (pure records and validated inputs) and `store` (the only code
//!   that calls git2 or runs `git`), which know nothing of each other;
//! - `session` (who acts, the clock and ids, the key and publish policy) and
//!   `error` (one error type, kinds with a fixed class) serve all of them.

pub mod api;
pub mod cli;
pub mod error;
pub mod hooks;
#[cfg(feature = "server")]
pub mod mcp;
pub mod model;
pub mod ops;
pub mod read;
pub mod render;
#[cfg(feature = "server")]
pub mod serve;
pub mod session;
pub mod store;
pub mod sync;
pub mod work;
