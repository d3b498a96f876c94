//! `orc dashboard` as an operation: renders README.md, docs/index.html and
//! docs/.nojekyll (templates in `render`) and commits them when they changed.

use serde::{Deserialize, Serialize};

use super::{OpEnv, Operation, Plan};
use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::read::Snapshot;
use crate::render::{render, DASHBOARD_OP, HTML_PATH, NOJEKYLL_PATH, README_PATH};

/// `orc dashboard`: renders and commits README.md, docs/index.html and
/// docs/.nojekyll as one operation; nothing when they are unchanged. A
/// render logs no event and is not state: the next render ignores it when
/// it asks how old the state is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenderDashboard;

impl Operation for RenderDashboard {
    type Output = bool;
    const NAME: &'static str = DASHBOARD_OP;

    fn plan(&self, snap: &Snapshot<'_>, _env: &OpEnv<'_>) -> Result<Plan<bool>> {
        let branch = snap.store.branch().to_string();
        let rendered = render(snap, &branch)?;
        let mut plan = Plan::new("render dashboard", false);
        plan.quiet = true;
        for (path, text) in [(README_PATH, rendered.readme), (HTML_PATH, rendered.html), (NOJEKYLL_PATH, String::new())]
        {
            let current = snap.file(path)?;
            if current.as_deref() != Some(text.as_bytes()) {
                plan.changes.insert(path.to_string(), Some(text.into_bytes()));
            }
        }
        plan.output = !plan.changes.is_empty();
        Ok(plan)
    }
}

/// When the last render landed, if any.
pub fn last_render(snap: &Snapshot<'_>) -> Result<Option<DateTime<Utc>>> {
    let Some(tip) = snap.commit else { return Ok(None) };
    for (commit, message) in snap.store.commits_since(tip, None, 500)? {
        if super::trailer::Envelope::op_in(&message).as_deref() == Some(DASHBOARD_OP) {
            return snap.store.commit_time(commit).map(Some);
        }
    }
    Ok(None)
}
