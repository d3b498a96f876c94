//! The single integration-test binary: real git repositories in temp dirs,
//! real `orc` processes. One module per area.

mod common;

mod cycle;
mod dashboard;

mod engine;
mod errors;
mod events;
mod hooks;
mod init;
mod knowledge;
mod locks;
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
