//! Claim requests: how a `next` that lost a race gets served by the
//! machine that wins the branch (issue 12: remote claims that do not
//! starve).
//!
//! Every claim is a push to one ref, so machines that race `next` take
//! turns at random, and one that just won starts its next round before the
//! losers have even fetched: left alone, one clone took 84 of 100 tasks
//! while the others waited up to 53 s. So a `next` that lost a round leaves
//! a request on the remote, in a ref of its own beside the branch
//! (`refs/orc/requests/<op id>/<agent>/<workstream or _any>/<branch>`,
//! pointing at a commit of the branch, so posting it sends no objects).
//! Whoever pushes the branch next claims the best ready task for every
//! request it saw, oldest first, under the requester's own operation id,
//! and deletes the served requests in the same atomic push.
//!
//! Rules this module keeps:
//! - A request is served at most once: its deletion rides the push that
//!   serves it, under a lease on the request's value, so two servers (or a
//!   server and the requester withdrawing) cannot both succeed; and an
//!   operation id already on the branch is never applied again.
//! - A request names nothing that is not checked: the agent and the
//!   workstream go through the same validated names as any input, and a
//!   ref that does not parse is neither served nor deleted.
//! - A requester never leaves its request behind when it answers: it
//!   withdraws it first, and a request that is gone was served, so the
//!   served claim is the answer (see `sync::publish`).

use crate::error::Error;
use crate::model::names::{AgentName, WorkstreamName};
use crate::ops::task::ClaimTask;
use crate::ops::trailer::Envelope;
use crate::ops::{Engine, Operation};
use crate::store::remote::RefUpdate;
use crate::store::ObjectId;

/// Where requests live on the remote.
pub const PREFIX: &str = "refs/orc/requests/";

/// The path component that stands for "any workstream": it cannot be a
/// workstream name, which starts with a letter or digit.
const ANY: &str = "_any";

/// What a `next` asks for: the best ready task for this agent, of one
/// workstream or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub agent: AgentName,
    pub workstream: Option<WorkstreamName>,
}

/// One request on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub refname: String,
    /// The commit of the branch the ref points at: the requester's view
    /// when it asked. No operation from before it can be the request's.
    pub target: ObjectId,
    pub op_id: String,
    pub want: Want,
}

impl Request {
    /// The request for operation `op_id`, pointing at `target`; None when
    /// the names would not make a valid ref (an agent named `x.lock`):
    /// that `next` races as before.
    pub fn new(op_id: &str, want: &Want, branch: &str, target: ObjectId) -> Option<Self> {
        let ws = want.workstream.as_ref().map_or(ANY, |ws| ws.as_str());
        let refname = format!("{PREFIX}{op_id}/{}/{ws}/{branch}", want.agent);
        let valid =
            [op_id, want.agent.as_str(), ws].into_iter().all(valid_component) && branch.split('/').all(valid_component);
        valid.then(|| Self { refname, target, op_id: op_id.to_string(), want: want.clone() })
    }

    /// The request a remote ref holds, when it is one for `branch` and its
    /// names pass the same checks as any input.
    pub fn parse(refname: &str, target: ObjectId, branch: &str) -> Option<Self> {
        let rest = refname.strip_prefix(PREFIX)?;
        let mut parts = rest.splitn(4, '/');
        let (op_id, agent, ws, for_branch) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if for_branch != branch || !is_op_id(op_id) {
            return None;
        }
        let workstream = match ws {
            ANY => None,
            ws => Some(WorkstreamName::new(ws).ok()?),
        };
        let want = Want { agent: AgentName::new(agent).ok()?, workstream };
        Some(Self { refname: refname.to_string(), target, op_id: op_id.to_string(), want })
    }

    /// The push update that creates this request (it must not exist yet).
    pub fn create(&self) -> RefUpdate {
        RefUpdate { name: self.refname.clone(), expected: None, new: Some(self.target) }
    }

    /// The push update that deletes this request, only if it is unchanged.
    pub fn delete(&self) -> RefUpdate {
        RefUpdate { name: self.refname.clone(), expected: Some(self.target), new: None }
    }

    /// The operation this request asks a server to apply: the claim of the
    /// best ready task, as the requester, under the requester's id.
    pub fn operation(&self, orc: &Engine<'_>) -> (ClaimTask, Envelope) {
        let op = ClaimTask::best(self.want.agent.clone(), self.want.workstream.clone());
        let envelope = Envelope {
            id: self.op_id.clone(),
            op: ClaimTask::NAME.into(),
            actor: crate::model::task::Actor::Agent(self.want.agent.to_string()),
            at: chrono::SubsecRound::trunc_subsecs(orc.session.clock.now(), 0),
            key: None,
            input: serde_json::Value::Null,
            legacy_task: None,
        };
        (op, envelope)
    }

    /// How a drop of this request is named in its `sync.drop` event.
    pub fn subject(&self) -> String {
        match &self.want.workstream {
            Some(ws) => format!("next in {ws} for {}", self.want.agent),
            None => format!("next for {}", self.want.agent),
        }
    }
}

/// The requests among `refs` (from `git ls-remote`) for `branch`, oldest
/// first (operation ids are ULIDs: they sort by time).
pub fn requests_in(refs: &[(String, ObjectId)], branch: &str) -> Vec<Request> {
    let mut requests: Vec<Request> =
        refs.iter().filter_map(|(name, target)| Request::parse(name, *target, branch)).collect();
    requests.sort_by(|a, b| a.op_id.cmp(&b.op_id));
    requests
}

/// An operation id as orc writes them: 26 characters of Crockford base32.
fn is_op_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// A ref path component git accepts (`git check-ref-format`), for the
/// characters names may hold.
fn valid_component(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with('.')
        && !part.ends_with('.')
        && !part.ends_with(".lock")
        && !part.contains("..")
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The error for a request that could not be withdrawn.
pub fn not_withdrawn(remote: &str, request: &Request, cause: &Error) -> Error {
    Error::new(
        cause.kind,
        format!("cannot withdraw the claim request {} from {remote}: {}", request.refname, cause.message),
    )
    .with("request", &request.refname)
    .with_hint(format!(
        "a machine that pushes the orc branch may still claim a task for {} under operation {}: check `orc t list --holder {}` after a sync",
        request.want.agent, request.op_id, request.want.agent
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid() -> ObjectId {
        ObjectId::from_str("0123456789abcdef0123456789abcdef01234567").unwrap()
    }

    const OP: &str = "01JABCDEFGHJKMNPQRSTVWXYZ0";

    #[test]
    fn a_request_names_round_trip_through_its_ref() {
        let want =
            Want { agent: AgentName::new("agent-7").unwrap(), workstream: Some(WorkstreamName::new("api").unwrap()) };
        let request = Request::new(OP, &want, "team/orc", oid()).unwrap();
        assert_eq!(request.refname, format!("refs/orc/requests/{OP}/agent-7/api/team/orc"));
        assert_eq!(Request::parse(&request.refname, oid(), "team/orc"), Some(request.clone()));
        assert_eq!(Request::parse(&request.refname, oid(), "orc"), None, "another branch's request");

        let any = Want { agent: AgentName::new("a.b_c").unwrap(), workstream: None };
        let request = Request::new(OP, &any, "orc", oid()).unwrap();
        assert_eq!(request.refname, format!("refs/orc/requests/{OP}/a.b_c/_any/orc"));
        assert_eq!(Request::parse(&request.refname, oid(), "orc").unwrap().want, any);
    }

    #[test]
    fn refs_that_are_not_valid_requests_are_ignored() {
        for name in [
            format!("refs/orc/requests/{OP}/../_any/orc"),
            format!("refs/orc/requests/{OP}/agent/t-123/orc"),
            format!("refs/orc/requests/{OP}/agent/_any"),
            "refs/orc/requests/not-an-id/agent/_any/orc".to_string(),
            format!("refs/orc/requests/{OP}/-agent/_any/orc"),
        ] {
            assert_eq!(Request::parse(&name, oid(), "orc"), None, "{name}");
        }
        let odd = Want { agent: AgentName::new("x.lock").unwrap(), workstream: None };
        assert_eq!(Request::new(OP, &odd, "orc", oid()), None, "an agent name git refuses in a ref");
    }

    #[test]
    fn requests_are_served_oldest_first() {
        let refs = vec![
            ("refs/orc/requests/01JB000000000000000000000B/b/_any/orc".to_string(), oid()),
            ("refs/orc/requests/01JA000000000000000000000A/a/_any/orc".to_string(), oid()),
            ("refs/orc/requests/junk".to_string(), oid()),
        ];
        let agents: Vec<String> = requests_in(&refs, "orc").into_iter().map(|r| r.want.agent.to_string()).collect();
        assert_eq!(agents, ["a", "b"]);
    }
}
