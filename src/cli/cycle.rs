//! `orc plan`, `orc brief`, `orc collect`.

use clap::Args;

use super::output::Output;
use super::Ctx;
use crate::error::{Error, Kind, Result};
use crate::model::names::{check_name, NameKind};
use crate::model::task::Terms;
use crate::ops::cycle::{CloseCycle, WritePlan};
use crate::read::cycle::compute_brief;
use crate::read::Snapshot;

#[derive(Args, Debug)]
pub struct BriefArgs {
    /// An agent (its claimed tasks, or what to take next), or a workstream (its top ready task)
    pub name: String,
    /// Treat the name as a workstream even if an agent has the same name
    #[arg(long)]
    pub workstream: bool,
}

pub fn plan(orc: &Ctx) -> Result<Output> {
    let applied = orc.apply(&WritePlan)?;
    let plan = applied.output;
    let json = serde_json::to_value(&plan).expect("plans serialise");
    Ok(Output::new(json, plan.markdown()))
}

pub fn collect(orc: &Ctx) -> Result<Output> {
    let applied = orc.apply(&CloseCycle)?;
    let report = applied.output;
    let json = serde_json::to_value(&report).expect("reports serialise");
    Ok(Output::new(json, report.markdown()))
}

pub fn brief(orc: &Ctx, args: &BriefArgs) -> Result<Output> {
    check_name(NameKind::Agent, &args.name)?;
    let store = orc.store()?;
    let snap = Snapshot::current(&store)?;
    let settings = orc.settings(&snap);
    let terms = Terms { now: orc.now(), lease: settings.lease, grace: settings.expiry_slack };
    let is_agent = !args.workstream && snap.agent(&args.name)?.is_some();
    let brief = if is_agent {
        compute_brief(&snap, &terms, Some(&args.name), None)?
    } else if snap.workstream_exists(&args.name)? {
        compute_brief(&snap, &terms, None, Some(&args.name))?
    } else if args.workstream {
        return Err(Error::new(Kind::NotFound, format!("no workstream named {}", args.name))
            .with_hint("list them with `orc ws list`"));
    } else {
        // An agent that has not acted yet: brief it on what to take.
        compute_brief(&snap, &terms, Some(&args.name), None)?
    };
    let json = serde_json::to_value(&brief).expect("briefs serialise");
    Ok(Output::new(json, brief.markdown))
}
