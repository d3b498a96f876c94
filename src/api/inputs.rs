//! The validated operation inputs a front end builds, in one place, so
//! front ends reach operations through `api` alone (the architecture test
//! keeps `serve` and `mcp` off `ops`). Building one is checking it: a
//! value that is not allowed never becomes an operation.

pub use crate::ops::agent::{Heartbeat, RegisterAgent};
pub use crate::ops::knowledge::{RemoveTopic, WriteTopic};
pub use crate::ops::lock::check_ttl;
pub use crate::ops::task::{AddTask, Change, ChangeTask, ClaimTask, Finish, FinishTask};
pub use crate::ops::workstream::CreateWorkstream;
pub use crate::ops::Applied;
pub use crate::read::events::EventQuery;
pub use crate::sync::SyncReport;

/// The writer name an events query matches for `name`: an agent's own
/// name, or a person's name made file-safe, as the log files them.
pub fn event_writer(name: &str) -> String {
    match crate::model::names::check_name(crate::model::names::NameKind::Agent, name) {
        Ok(()) => name.to_string(),
        Err(_) => crate::ops::person_file_name(name),
    }
}
