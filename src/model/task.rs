//! Tasks and their state machine (DESIGN §3):
//! `open → claimed → done | failed`, `claimed → open` (release or expired
//! lease), `open | claimed | failed → cancelled`, `failed → open` (retry).
//! `done` and `cancelled` are terminal. Every transition is a pure function
//! that returns the new record or a refusal.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};

pub const MIN_PRIORITY: u8 = 1;
pub const MAX_PRIORITY: u8 = 9;
pub const DEFAULT_PRIORITY: u8 = 3;
pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Length of the random part of a task id (`t-` and ten base32 characters).
pub const TASK_ID_CHARS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Claimed,
    Done,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Self; 5] = [Self::Open, Self::Claimed, Self::Done, Self::Failed, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Claimed => "claimed",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled)
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One task file, `workstreams/<ws>/tasks/<shard>/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    /// Copied from the path for people reading the file; the path wins.
    #[serde(default)]
    pub workstream: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub priority: u8,
    pub status: Status,
    #[serde(default)]
    pub after: Vec<String>,
    /// Shared resources (lock names) the work touches: tasks sharing one are
    /// not worked on at once (`orc plan` marks them serial).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<DateTime<Utc>>,
    /// Grows with every claim; a complete or fail naming an older token is refused.
    #[serde(default)]
    pub claim_token: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Who acts: an identified agent, or a person recorded under their git name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Agent(String),
    Person(String),
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Self::Agent(name) | Self::Person(name) => name,
        }
    }

    pub fn agent(&self) -> Option<&str> {
        match self {
            Self::Agent(name) => Some(name),
            Self::Person(_) => None,
        }
    }
}

/// What a successful claim did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ClaimKind {
    New,
    /// The agent already held it; the lease was renewed.
    Renewed,
    /// The previous holder's lease had run out.
    Reclaimed {
        from: String,
    },
}

/// A dependency that is not done yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Blocker {
    pub id: String,
    /// None when the dependency does not exist (deleted by hand).
    pub status: Option<Status>,
}

/// The clock and lease rules a transition is judged by.
#[derive(Debug, Clone, Copy)]
pub struct Terms {
    pub now: DateTime<Utc>,
    /// How long a claim lasts past the holder's last sign of life.
    pub lease: Duration,
    /// Slack for clocks that disagree between machines.
    pub grace: Duration,
}

/// Checks the free-text fields a person or agent supplies.
pub fn check_title(title: &str) -> Result<()> {
    if title.trim().is_empty() {
        return Err(
            Error::new(Kind::InvalidInput, "the task title is empty").with_hint("give the task a one-line title")
        );
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::new(
            Kind::InvalidInput,
            format!("the task title is {} characters; the limit is {MAX_TITLE_CHARS}", title.chars().count()),
        )
        .with_hint("put the details in the description"));
    }
    Ok(())
}

pub fn check_text(what: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::new(
            Kind::InvalidInput,
            format!("the {what} is {} bytes; the limit is {MAX_TEXT_BYTES}", text.len()),
        )
        .with_hint("keep long text in the knowledge base and reference the topic"));
    }
    Ok(())
}

/// What every priority error says, whichever front end or parser caught it.
pub const PRIORITY_RANGE: &str = "priority must be 1 (highest) to 9 (lowest)";

/// Parses a typed priority; the message is the same for `x`, `300` and `12`.
pub fn parse_priority(text: &str) -> std::result::Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(p) if (MIN_PRIORITY..=MAX_PRIORITY).contains(&p) => Ok(p),
        _ => Err(PRIORITY_RANGE.to_string()),
    }
}

pub fn check_priority(priority: u8) -> Result<()> {
    if !(MIN_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        return Err(Error::new(Kind::InvalidInput, format!("{PRIORITY_RANGE}, not {priority}")));
    }
    Ok(())
}

/// A priority, 1 (highest) to 9 (lowest); decoding checks the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Priority(u8);

impl Priority {
    pub fn new(priority: u8) -> Result<Self> {
        check_priority(priority)?;
        Ok(Self(priority))
    }

    /// The default for tasks and workstreams.
    pub const DEFAULT: Self = Self(DEFAULT_PRIORITY);

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Priority {
    type Error = Error;
    fn try_from(value: u8) -> Result<Self> {
        Self::new(value)
    }
}

impl schemars::JsonSchema for Priority {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Priority".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 1, "maximum": 9, "description": "1 is highest" })
    }
}

impl From<Priority> for u8 {
    fn from(value: Priority) -> Self {
        value.0
    }
}

/// A full task id, `t-` and ten base32 characters: it becomes a file name.
pub fn check_task_id(id: &str) -> Result<()> {
    let body = id.strip_prefix("t-").unwrap_or("");
    if body.len() != TASK_ID_CHARS || !body.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()) {
        return Err(Error::new(Kind::InvalidInput, format!("{} is not a task id", crate::model::names::printable(id)))
            .with_hint("task ids look like t-3fk2a8c9d0"));
    }
    Ok(())
}

crate::model::names::validated_string!(
    /// A task's title: not blank, at most 500 characters.
    Title,
    check_title,
    schema: { "type": "string", "minLength": 1, "maxLength": MAX_TITLE_CHARS }
);
crate::model::names::validated_string!(
    /// Free text given with an operation (a description, result, reason).
    Text,
    |text| check_text("text", text)
);
crate::model::names::validated_string!(
    /// A task id as orc makes them; safe as a file name.
    TaskId,
    check_task_id,
    schema: { "type": "string", "pattern": "^t-[0-9a-z]{10}$" }
);

/// Canonical spelling of a typed task id or prefix: lower case, `t-` added
/// when missing, and the letters Crockford treats as digits mapped back
/// (i, l → 1; o → 0). Returns None when it cannot be part of a task id.
pub fn normalize_task_ref(input: &str) -> Option<String> {
    const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let lower = input.trim().to_ascii_lowercase();
    let body = lower.strip_prefix("t-").unwrap_or(&lower);
    if body.is_empty() || body.len() > TASK_ID_CHARS {
        return None;
    }
    let mut out = String::from("t-");
    for c in body.chars() {
        let c = match c {
            'i' | 'l' => '1',
            'o' => '0',
            c => c,
        };
        if !c.is_ascii() || !CROCKFORD.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// Formats a time for a one-line message.
pub fn short_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

impl Task {
    /// A new open task.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        workstream: String,
        title: String,
        description: String,
        priority: u8,
        after: Vec<String>,
        created_by: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            workstream,
            title,
            description,
            priority,
            status: Status::Open,
            after,
            resources: Vec::new(),
            created_at: now,
            created_by,
            claimed_by: None,
            claimed_at: None,
            lease_expires: None,
            claim_token: 0,
            result: None,
            finished_at: None,
            finished_by: None,
            updated_at: now,
        }
    }

    /// When the claim lapses: one lease after the holder's last sign of life
    /// (a heartbeat or any operation), so a live agent keeps its work without
    /// rewriting task files. `holder_seen` is when this machine first saw
    /// that sign of life (DESIGN §4: written times take nothing away); only
    /// without one (the holder has no agent record) does the written lease
    /// count.
    pub fn lease_end(&self, holder_seen: Option<DateTime<Utc>>, lease: Duration) -> Option<DateTime<Utc>> {
        if self.status != Status::Claimed {
            return None;
        }
        match holder_seen {
            Some(seen) => Some(seen + lease),
            None => self.lease_expires,
        }
    }

    /// The claim lapsed, with `grace` of slack for clocks that disagree.
    pub fn lease_expired(&self, terms: &Terms, holder_seen: Option<DateTime<Utc>>) -> bool {
        self.lease_end(holder_seen, terms.lease).is_some_and(|end| terms.now > end + terms.grace)
    }

    /// Open, or claimed with a lapsed lease.
    pub fn is_claimable(&self, terms: &Terms, holder_seen: Option<DateTime<Utc>>) -> bool {
        self.status == Status::Open || self.lease_expired(terms, holder_seen)
    }

    /// The order `next` takes tasks in: priority, then age, then id.
    pub fn next_order(&self) -> (u8, DateTime<Utc>, &str) {
        (self.priority, self.created_at, &self.id)
    }

    fn refuse_terminal(&self, action: &str) -> Error {
        Error::new(Kind::Terminal, format!("cannot {action} {}: it is {} and stays so", self.id, self.status.as_str()))
            .with("task", &self.id)
            .with("status", self.status)
    }

    fn cleared_claim(mut self) -> Self {
        self.claimed_by = None;
        self.claimed_at = None;
        self.lease_expires = None;
        self
    }

    /// Claims the task for `agent`, or says who holds it.
    pub fn claim(
        &self,
        agent: &str,
        terms: &Terms,
        holder_seen: Option<DateTime<Utc>>,
        blockers: &[Blocker],
    ) -> Result<(Self, ClaimKind)> {
        let now = terms.now;
        let kind = match self.status {
            Status::Done | Status::Cancelled => return Err(self.refuse_terminal("claim")),
            Status::Failed => {
                return Err(Error::new(Kind::WrongState, format!("cannot claim {}: it failed", self.id))
                    .with("task", &self.id)
                    .with("status", self.status)
                    .with_hint("put it back on the board with a retry first"))
            }
            Status::Open => ClaimKind::New,
            Status::Claimed => {
                let holder = self.claimed_by.clone().unwrap_or_default();
                if holder == agent {
                    ClaimKind::Renewed
                } else if self.lease_expired(terms, holder_seen) {
                    ClaimKind::Reclaimed { from: holder }
                } else {
                    let at = self.claimed_at.unwrap_or(self.updated_at);
                    return Err(Error::new(
                        Kind::AlreadyClaimed,
                        format!("{} was claimed by {holder} at {}", self.id, short_time(at, now)),
                    )
                    .with("task", &self.id)
                    .with("claimed_by", &holder)
                    .with("claimed_at", at)
                    .with("lease_expires", self.lease_end(holder_seen, terms.lease)));
                }
            }
        };
        if !blockers.is_empty() {
            let list: Vec<String> =
                blockers.iter().map(|b| format!("{} ({})", b.id, b.status.map_or("missing", Status::as_str))).collect();
            return Err(Error::new(
                Kind::Blocked,
                format!("cannot claim {}: it waits for {}", self.id, list.join(", ")),
            )
            .with("task", &self.id)
            .with("blocked_by", blockers));
        }
        let mut next = self.clone();
        next.status = Status::Claimed;
        next.claimed_by = Some(agent.to_string());
        next.lease_expires = Some(now + terms.lease);
        if kind != ClaimKind::Renewed {
            next.claimed_at = Some(now);
            next.claim_token = self.claim_token + 1;
        }
        next.updated_at = now;
        Ok((next, kind))
    }

    /// An identified agent may finish only a claim it holds now, with the
    /// current token when it gives one; a person may finish any live task.
    fn check_finisher(
        &self,
        action: &str,
        actor: &Actor,
        token: Option<u64>,
        terms: &Terms,
        holder_seen: Option<DateTime<Utc>>,
    ) -> Result<()> {
        if self.status.is_terminal() {
            return Err(self.refuse_terminal(action));
        }
        if self.status == Status::Failed {
            return Err(Error::new(Kind::WrongState, format!("cannot {action} {}: it already failed", self.id))
                .with("task", &self.id)
                .with("status", self.status)
                .with_hint("put it back on the board with a retry first"));
        }
        if let Some(token) = token {
            if self.status != Status::Claimed || token != self.claim_token {
                return Err(Error::new(
                    Kind::StaleToken,
                    format!(
                        "cannot {action} {}: claim token {token} is not the current claim (token {}, {})",
                        self.id,
                        self.claim_token,
                        self.claimed_by.as_deref().map_or("unclaimed".to_string(), |h| format!("held by {h}"))
                    ),
                )
                .with("task", &self.id)
                .with("token", token)
                .with("current_token", self.claim_token));
            }
        }
        let Actor::Agent(agent) = actor else { return Ok(()) };
        match (&self.status, self.claimed_by.as_deref()) {
            (Status::Claimed, Some(holder)) if holder == agent => {
                if self.lease_expired(terms, holder_seen) {
                    let until = self.lease_end(holder_seen, terms.lease).expect("an expired lease has an end");
                    let now = terms.now;
                    return Err(Error::new(
                        Kind::ClaimExpired,
                        format!("cannot {action} {}: your claim expired at {}", self.id, short_time(until, now)),
                    )
                    .with("task", &self.id)
                    .with("lease_expires", until)
                    .with_hint("claim it again first"));
                }
                Ok(())
            }
            (Status::Claimed, Some(holder)) => Err(Error::new(
                Kind::NotHolder,
                format!("cannot {action} {}: it is claimed by {holder}, not {agent}", self.id),
            )
            .with("task", &self.id)
            .with("claimed_by", holder)),
            _ => Err(Error::new(
                Kind::NotHolder,
                format!("cannot {action} {}: {agent} holds no claim on it (it is open)", self.id),
            )
            .with("task", &self.id)
            .with_hint("claim it first")),
        }
    }

    fn finish(&self, status: Status, actor: &Actor, text: Option<String>, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.status = status;
        next.result = text.or(next.result);
        next.finished_at = Some(now);
        next.finished_by = Some(actor.name().to_string());
        next.updated_at = now;
        next
    }

    pub fn complete(
        &self,
        actor: &Actor,
        token: Option<u64>,
        result: Option<String>,
        terms: &Terms,
        holder_seen: Option<DateTime<Utc>>,
    ) -> Result<Self> {
        self.check_finisher("complete", actor, token, terms, holder_seen)?;
        Ok(self.finish(Status::Done, actor, result, terms.now))
    }

    pub fn fail(
        &self,
        actor: &Actor,
        token: Option<u64>,
        reason: Option<String>,
        terms: &Terms,
        holder_seen: Option<DateTime<Utc>>,
    ) -> Result<Self> {
        self.check_finisher("fail", actor, token, terms, holder_seen)?;
        Ok(self.finish(Status::Failed, actor, reason, terms.now))
    }

    /// Gives a claim back: by its holder, or by a person.
    pub fn release(&self, actor: &Actor, now: DateTime<Utc>) -> Result<Self> {
        if self.status.is_terminal() {
            return Err(self.refuse_terminal("release"));
        }
        if self.status != Status::Claimed {
            return Err(Error::new(
                Kind::WrongState,
                format!("cannot release {}: it is {}, not claimed", self.id, self.status.as_str()),
            )
            .with("task", &self.id)
            .with("status", self.status));
        }
        if let (Actor::Agent(agent), Some(holder)) = (actor, self.claimed_by.as_deref()) {
            if holder != agent {
                return Err(Error::new(
                    Kind::NotHolder,
                    format!("cannot release {}: it is claimed by {holder}, not {agent}", self.id),
                )
                .with("task", &self.id)
                .with("claimed_by", holder));
            }
        }
        let mut next = self.clone().cleared_claim();
        next.status = Status::Open;
        next.updated_at = now;
        Ok(next)
    }

    /// Withdraws a task that is not finished; anyone may.
    pub fn cancel(&self, actor: &Actor, reason: Option<String>, now: DateTime<Utc>) -> Result<Self> {
        if self.status.is_terminal() {
            return Err(self.refuse_terminal("cancel"));
        }
        let next = self.clone().cleared_claim();
        Ok(next.finish(Status::Cancelled, actor, reason, now))
    }

    /// Puts a failed task back on the board.
    pub fn retry(&self, now: DateTime<Utc>) -> Result<Self> {
        if self.status.is_terminal() {
            return Err(self.refuse_terminal("retry"));
        }
        if self.status != Status::Failed {
            return Err(Error::new(
                Kind::WrongState,
                format!("cannot retry {}: it is {}, not failed", self.id, self.status.as_str()),
            )
            .with("task", &self.id)
            .with("status", self.status));
        }
        let mut next = self.clone().cleared_claim();
        next.status = Status::Open;
        // The failure reason belonged to the attempt that failed; `t show`
        // must not report it for the open task (issue 13).
        next.result = None;
        next.finished_at = None;
        next.finished_by = None;
        next.updated_at = now;
        Ok(next)
    }

    /// Changes what the task asks for (title, description, priority,
    /// dependencies already resolved and checked); refused once it is done
    /// or cancelled, as its record is then history.
    pub fn edit(&self, edit: TaskEdit, now: DateTime<Utc>) -> Result<Self> {
        if self.status.is_terminal() {
            return Err(self.refuse_terminal("edit"));
        }
        let mut next = self.clone();
        if let Some(title) = edit.title {
            next.title = title;
        }
        if let Some(description) = edit.description {
            next.description = description;
        }
        if let Some(priority) = edit.priority {
            next.priority = priority;
        }
        if let Some(after) = edit.after {
            next.after = after;
        }
        next.updated_at = now;
        Ok(next)
    }
}

/// The fields `Task::edit` changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct TaskEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<u8>,
    pub after: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_refs_are_normalised() {
        assert_eq!(normalize_task_ref("T-3FK2").as_deref(), Some("t-3fk2"));
        assert_eq!(normalize_task_ref("3fk2").as_deref(), Some("t-3fk2"));
        assert_eq!(normalize_task_ref("t-oil").as_deref(), Some("t-011"));
        assert_eq!(normalize_task_ref("t-"), None);
        assert_eq!(normalize_task_ref("t-u"), None);
        assert_eq!(normalize_task_ref("../x"), None);
        assert_eq!(normalize_task_ref("t-0123456789a"), None);
        assert!(check_task_id("t-0123456789").is_ok());
        assert!(check_task_id("t-../../x").is_err());
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").unwrap().into()
    }

    fn task() -> Task {
        Task::new("t-abc".into(), "ws".into(), "x".into(), String::new(), 3, vec![], "me".into(), t0())
    }

    const LEASE: Duration = Duration::minutes(30);
    const GRACE: Duration = Duration::minutes(2);

    fn at(now: DateTime<Utc>) -> Terms {
        Terms { now, lease: LEASE, grace: GRACE }
    }

    fn agent(name: &str) -> Actor {
        Actor::Agent(name.into())
    }

    #[test]
    fn claim_then_complete_by_holder() {
        let (claimed, kind) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        assert_eq!(kind, ClaimKind::New);
        assert_eq!(claimed.claim_token, 1);
        let done = claimed.complete(&agent("a1"), Some(1), Some("ok".into()), &at(t0()), None).unwrap();
        assert_eq!(done.status, Status::Done);
        assert_eq!(done.result.as_deref(), Some("ok"));
    }

    #[test]
    fn second_claimant_is_told_the_winner() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let err = claimed.claim("a2", &at(t0()), None, &[]).unwrap_err();
        assert_eq!(err.kind, "already_claimed");
        assert!(err.message.contains("claimed by a1"), "{}", err.message);
    }

    #[test]
    fn expired_lease_is_reclaimed_only_after_grace() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let just_after = t0() + LEASE + Duration::minutes(1);
        assert_eq!(claimed.claim("a2", &at(just_after), None, &[]).unwrap_err().kind, "already_claimed");
        let later = t0() + LEASE + GRACE + Duration::seconds(1);
        let (taken, kind) = claimed.claim("a2", &at(later), None, &[]).unwrap();
        assert_eq!(kind, ClaimKind::Reclaimed { from: "a1".into() });
        assert_eq!(taken.claim_token, 2);
        // The old holder can no longer finish it, with or without its token.
        assert_eq!(taken.complete(&agent("a1"), None, None, &at(later), None).unwrap_err().kind, "not_holder");
        assert_eq!(taken.complete(&agent("a1"), Some(1), None, &at(later), None).unwrap_err().kind, "stale_token");
    }

    #[test]
    fn a_live_holder_keeps_its_claim_past_the_lease() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let later = t0() + Duration::minutes(50);
        let seen_recently = Some(t0() + Duration::minutes(40));
        assert_eq!(claimed.lease_end(seen_recently, LEASE), Some(t0() + Duration::minutes(70)));
        assert!(!claimed.lease_expired(&at(later), seen_recently));
        assert_eq!(claimed.claim("a2", &at(later), seen_recently, &[]).unwrap_err().kind, "already_claimed");
        assert!(claimed.complete(&agent("a1"), Some(1), None, &at(later), seen_recently).is_ok());
        // Without that sign of life the same moment is past lease and grace.
        assert!(claimed.lease_expired(&at(later), Some(t0())));
    }

    #[test]
    fn holder_cannot_finish_after_its_lease_ran_out() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let late = t0() + LEASE + GRACE + Duration::seconds(1);
        assert_eq!(claimed.complete(&agent("a1"), None, None, &at(late), None).unwrap_err().kind, "claim_expired");
    }

    #[test]
    fn terminal_states_stay() {
        let cancelled = task().cancel(&agent("boss"), None, t0()).unwrap();
        for err in [
            cancelled.complete(&agent("a1"), None, None, &at(t0()), None).unwrap_err(),
            cancelled.complete(&Actor::Person("p".into()), None, None, &at(t0()), None).unwrap_err(),
            cancelled.fail(&agent("a1"), None, None, &at(t0()), None).unwrap_err(),
            cancelled.claim("a1", &at(t0()), None, &[]).unwrap_err(),
            cancelled.cancel(&agent("a1"), None, t0()).unwrap_err(),
            cancelled.retry(t0()).unwrap_err(),
            cancelled.release(&agent("a1"), t0()).unwrap_err(),
        ] {
            assert_eq!(err.kind, "terminal", "{}", err.message);
        }
    }

    #[test]
    fn released_claim_cannot_be_completed_by_its_old_holder() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let open = claimed.release(&agent("a1"), t0()).unwrap();
        assert_eq!(open.status, Status::Open);
        assert_eq!(open.complete(&agent("a1"), None, None, &at(t0()), None).unwrap_err().kind, "not_holder");
        // A person may still mark it done by hand.
        assert!(open.complete(&Actor::Person("p".into()), None, None, &at(t0()), None).is_ok());
    }

    #[test]
    fn failed_tasks_need_a_retry() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let failed = claimed.fail(&agent("a1"), None, Some("boom".into()), &at(t0()), None).unwrap();
        assert_eq!(failed.claim("a2", &at(t0()), None, &[]).unwrap_err().kind, "wrong_state");
        let open = failed.retry(t0()).unwrap();
        assert_eq!(open.status, Status::Open);
        assert!(open.claimed_by.is_none());
        assert_eq!(open.result, None, "the failure reason does not outlive the retry");
        let (again, _) = open.claim("a2", &at(t0()), None, &[]).unwrap();
        assert_eq!(again.claim_token, 2);
    }

    #[test]
    fn priorities_parse_with_one_message() {
        assert_eq!(parse_priority("1"), Ok(1));
        assert_eq!(parse_priority("9"), Ok(9));
        for bad in ["0", "10", "300", "x", "-1", ""] {
            assert_eq!(parse_priority(bad).unwrap_err(), PRIORITY_RANGE, "{bad}");
        }
        assert!(check_priority(12).unwrap_err().message.starts_with(PRIORITY_RANGE));
    }

    #[test]
    fn finished_tasks_cannot_be_edited() {
        let edit = || TaskEdit { title: Some("new".into()), ..TaskEdit::default() };
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        assert_eq!(claimed.edit(edit(), t0()).unwrap().title, "new");
        let done = claimed.complete(&agent("a1"), None, None, &at(t0()), None).unwrap();
        assert_eq!(done.edit(edit(), t0()).unwrap_err().kind, "terminal");
        let cancelled = task().cancel(&agent("boss"), None, t0()).unwrap();
        assert_eq!(cancelled.edit(edit(), t0()).unwrap_err().kind, "terminal");
    }

    #[test]
    fn blocked_tasks_cannot_be_claimed() {
        let blockers = [Blocker { id: "t-dep".into(), status: Some(Status::Open) }];
        let err = task().claim("a1", &at(t0()), None, &blockers).unwrap_err();
        assert_eq!(err.kind, "blocked");
        assert!(err.message.contains("t-dep (open)"));
    }

    #[test]
    fn holder_renews_without_a_new_token() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let (renewed, kind) = claimed.claim("a1", &at(t0() + Duration::minutes(10)), None, &[]).unwrap();
        assert_eq!(kind, ClaimKind::Renewed);
        assert_eq!(renewed.claim_token, 1);
        assert_eq!(renewed.lease_expires, Some(t0() + Duration::minutes(40)));
    }

    #[test]
    fn task_record_round_trips_through_toml() {
        let (claimed, _) = task().claim("a1", &at(t0()), None, &[]).unwrap();
        let text = crate::model::record::render(&claimed);
        let back: Task = crate::model::record::parse("t.toml", &text).unwrap();
        assert_eq!(back, claimed);
    }
}
