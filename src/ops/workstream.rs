//! `ws create`.

use serde::{Deserialize, Serialize};

use super::view::Snapshot;
use super::{OpEnv, Operation, Plan};
use crate::error::{Error, Result};
use crate::model::names::check_workstream_name;
use crate::model::record;
use crate::model::task::{check_priority, check_text};
use crate::model::workstream::{workstream_path, Workstream};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateWorkstream {
    pub name: String,
    pub description: String,
    pub priority: u8,
}

impl CreateWorkstream {
    /// Checks the input before anything is read or written.
    pub fn new(name: &str, description: Option<&str>, priority: Option<u8>) -> Result<Self> {
        check_workstream_name(name)?;
        let description = description.unwrap_or_default().to_string();
        check_text("description", &description)?;
        let priority = priority.unwrap_or(crate::model::workstream::DEFAULT_WS_PRIORITY);
        check_priority(priority)?;
        Ok(Self { name: name.into(), description, priority })
    }
}

impl Operation for CreateWorkstream {
    type Output = Workstream;
    const NAME: &'static str = "ws.create";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<Workstream>> {
        if snap.workstream_exists(&self.name)? {
            return Err(Error::refused("already_exists", format!("workstream {} already exists", self.name))
                .with("workstream", &self.name)
                .with_hint(format!("orc ws show {}", self.name)));
        }
        let ws = Workstream {
            name: self.name.clone(),
            description: self.description.clone(),
            priority: self.priority,
            created_at: env.now,
            created_by: env.actor.name().into(),
        };
        Ok(Plan::new(format!("create workstream {}", self.name), ws.clone())
            .write(workstream_path(&self.name), record::render(&ws))
            .detail("workstream", &self.name)
            .detail("priority", self.priority))
    }
}
