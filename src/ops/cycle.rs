//! `orc plan` and `orc collect` as operations: they keep the plan and the
//! report (computed in `read::cycle`) under `cycles/<n>/`.

use serde::{Deserialize, Serialize};

use super::{OpEnv, Operation, Plan};
use crate::error::Result;
use crate::read::cycle::{compute_plan, compute_report, current_cycle, cycle_dir, CyclePlan, CycleReport};
use crate::read::Snapshot;

/// `orc plan`: computes the plan and keeps it as cycles/<n>/plan.md + .json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WritePlan;

impl Operation for WritePlan {
    type Output = CyclePlan;
    const NAME: &'static str = "cycle.plan";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<CyclePlan>> {
        let (cycle, _) = current_cycle(snap)?;
        let plan = compute_plan(snap, &env.terms()?, env.settings()?.stale_after, cycle)?;
        let dir = cycle_dir(cycle);
        let json = serde_json::to_vec_pretty(&plan).expect("plans serialise");
        Ok(Plan::new(format!("plan cycle {cycle}: {} assignment(s)", plan.assignments.len()), plan.clone())
            .write(format!("{dir}/plan.md"), plan.markdown().into_bytes())
            .write(format!("{dir}/plan.json"), json)
            .detail("cycle", cycle)
            .detail("assignments", plan.assignments.len()))
    }
}

/// `orc collect`: reports since the previous cycle and closes this one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloseCycle;

impl Operation for CloseCycle {
    type Output = CycleReport;
    const NAME: &'static str = "cycle.collect";

    fn plan(&self, snap: &Snapshot<'_>, env: &OpEnv<'_>) -> Result<Plan<CycleReport>> {
        let (cycle, previous) = current_cycle(snap)?;
        let report = compute_report(snap, &env.terms()?, cycle, previous.as_ref())?;
        let dir = cycle_dir(cycle);
        let json = serde_json::to_vec_pretty(&report).expect("reports serialise");
        Ok(Plan::new(format!("collect cycle {cycle}: {} finished", report.finished.len()), report.clone())
            .write(format!("{dir}/report.md"), report.markdown().into_bytes())
            .write(format!("{dir}/report.json"), json)
            .detail("cycle", cycle)
            .detail("finished", report.finished.len()))
    }
}
