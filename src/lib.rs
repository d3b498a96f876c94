//! orc coordinates a team of AI coding agents through git alone: workstreams,
//! tasks, agents and an event log live as files in a dedicated branch of the
//! project's repository, every change is one commit, and claims are won by
//! compare-and-swap on the branch ref.
//!
//! Layers point one way: `cli → ops → {model, store}`. `model` is pure,
//! `store` is the only code that talks to git, `ops` holds every operation
//! with typed inputs and outputs so other front ends can call them.

pub mod api;
pub mod cli;
pub mod error;
pub mod hooks;
pub mod model;
pub mod ops;
pub mod read;
pub mod render;
pub mod session;
pub mod store;
pub mod sync;
