//! `ws create` and `ws archive`.

use serde::{Deserialize, Serialize};

use super::{OpEnv, Operation, Plan};
use crate::error::{Error, Kind, Result};
use crate::model::names::WorkstreamName;
use crate::model::record;
use crate::model::task::{check_text, Priority, Text};
use crate::model::workstream::{workstream_path, Workstream};
use crate::read::Snapshot;

/// Its fields are validated types: one decoded from JSON is as checked as
/// one built by `new`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreateWorkstream {
    pub name: WorkstreamName,
    pub description: Text,
    pub priority: Priority,
}

impl CreateWorkstream {
    /// Checks the input before anything is read or written.
    pub fn new(name: &str, description: Option<&str>, priority: Option<u8>) -> Result<Self> {
        let name = WorkstreamName::new(name)?;
        let description = description.unwrap_or_default();
        check_text("description", description)?;
        let priority = match priority {
            Some(p) => Priority::new(p)?,
            None => Priority::new(crate::model::workstream::DEFAULT_WS_PRIORITY)?,
        };
        Ok(Self { name, description: Text::new(description)?, priority })
    }
}

impl Operation for CreateWorkstream {
    type Output = Workstream;
    const NAME: &'static str = "ws.create";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Workstream>> {
        if snap.workstream_exists(&self.name)? {
            return Err(Error::new(Kind::AlreadyExists, format!("workstream {} already exists", self.name))
                .with("workstream", self.name.as_str())
                .with_hint("pick another name, or add tasks to the existing workstream"));
        }
        let ws = Workstream {
            name: self.name.to_string(),
            description: self.description.to_string(),
            priority: self.priority.get(),
            created_at: env.now,
            created_by: env.actor.name().into(),
            archived: false,
        };
        Ok(Plan::new(format!("create workstream {}", self.name), ws.clone())
            .write(workstream_path(&self.name), record::render(&ws))
            .detail("workstream", &self.name)
            .detail("priority", self.priority.get()))
    }
}

/// Archives a workstream (or, with `archived: false`, brings it back): its
/// files stay, but its tasks are offered to nobody and it takes no new ones.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ArchiveWorkstream {
    pub name: WorkstreamName,
    pub archived: bool,
}

impl ArchiveWorkstream {
    pub fn new(name: &str, archived: bool) -> Result<Self> {
        Ok(Self { name: WorkstreamName::new(name)?, archived })
    }
}

impl Operation for ArchiveWorkstream {
    type Output = Workstream;
    const NAME: &'static str = "ws.archive";

    fn plan(&self, snap: &Snapshot<'_>, _env: &OpEnv<'_>) -> Result<Plan<Workstream>> {
        snap.require_workstream(&self.name)?;
        let mut ws = snap.workstream(&self.name)?.expect("require_workstream found the folder");
        ws.archived = self.archived;
        let verb = if self.archived { "archive" } else { "restore" };
        let mut plan = Plan::new(format!("{verb} workstream {}", self.name), ws.clone())
            .write(workstream_path(&self.name), record::render(&ws))
            .detail("workstream", &self.name);
        plan.event_type = Some(format!("ws.{verb}"));
        Ok(plan)
    }
}

/// Refuses new work in an archived workstream.
pub fn refuse_archived(ws: &Workstream) -> Result<()> {
    if !ws.archived {
        return Ok(());
    }
    Err(Error::new(Kind::Archived, format!("workstream {} is archived", ws.name))
        .with("workstream", &ws.name)
        .with_hint("restore the workstream first, or use another one"))
}
