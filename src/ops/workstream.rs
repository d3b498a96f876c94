//! `ws create`.

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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
        };
        Ok(Plan::new(format!("create workstream {}", self.name), ws.clone())
            .write(workstream_path(&self.name), record::render(&ws))
            .detail("workstream", &self.name)
            .detail("priority", self.priority.get()))
    }
}
