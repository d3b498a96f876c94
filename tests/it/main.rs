//! The single integration-test binary: real git repositories in temp dirs,
//! real `orc` processes. One module per area.

mod common;

mod architecture;
mod catalog;
mod checkout;

mod cycle;
mod dashboard;

mod engine;
mod errors;
mod events;
mod expiry;
mod hooks;
mod hostile;
mod index;
mod init;
mod kb_import;
mod killloop;
mod knowledge;
mod layout;
mod library;
mod locks;
mod maintenance;
#[cfg(feature = "server")]
mod mcp;
mod network;
mod onboarding;
mod races;
mod regressions;
mod remote;
mod replay;
mod requests;
#[cfg(feature = "server")]
mod serve;
mod small;
mod snapshots;
mod storage;
mod sync;
mod tasks;
mod untouched;
mod work;
