//! The single integration-test binary: real git repositories in temp dirs,
//! real `orc` processes. One module per area.

mod common;

mod architecture;
mod catalog;

mod cycle;
mod dashboard;

mod engine;
mod errors;
mod events;
mod hooks;
mod init;
mod kb_import;
mod knowledge;
mod layout;
mod library;
mod locks;
mod network;
mod onboarding;
mod races;
mod regressions;
mod remote;
mod replay;
mod snapshots;
mod storage;
mod sync;
mod tasks;
mod untouched;
