//! The domain: records, names, and the state machine. Pure: no git, no I/O,
//! no clock. Every check an operation makes is a function here.

pub mod agent;
pub mod duration;
pub mod event;
pub mod knowledge;
pub mod lock;
pub mod names;
pub mod record;
pub mod settings;
pub mod task;
pub mod workstream;
