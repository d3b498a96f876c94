//! README.md and docs/index.html from the branch (DESIGN §7). The output is
//! a function of the branch alone: ages are measured against the newest
//! operation in the branch, never the clock, so rendering an unchanged
//! branch gives identical bytes. Every value an agent wrote is escaped
//! (HTML by the template engine, Markdown by the `md` filter), and knowledge
//! Markdown shown as HTML goes through a sanitiser.

use chrono::{DateTime, Utc};
use minijinja::{Environment, Value as Template};
use serde::Serialize;

use crate::error::{Error, Kind, Result};
use crate::model::duration::format_age;
use crate::model::task::{Status, Task};
use crate::read::board::Board;
use crate::read::events::{query, EventQuery};
use crate::read::knowledge;
use crate::read::locks::all_locks;
use crate::read::Snapshot;

const README_TEMPLATE: &str = include_str!("../../templates/README.md.j2");
const HTML_TEMPLATE: &str = include_str!("../../templates/index.html.j2");

/// Open tasks listed per workstream; the rest are counted. Keeps the page
/// under 2 MB at 10k tasks.
const OPEN_SHOWN: usize = 100;
const CLAIMED_SHOWN: usize = 200;
const DONE_SHOWN: usize = 20;
const EVENTS_SHOWN: usize = 40;
/// Knowledge text rendered into the page per topic.
const TOPIC_BYTES_SHOWN: usize = 20_000;

#[derive(Debug, Serialize)]
struct TaskRow {
    id: String,
    title: String,
    priority: u8,
    holder: String,
    blocked: bool,
}

#[derive(Debug, Serialize)]
struct WsView {
    name: String,
    description: String,
    priority: u8,
    done: usize,
    total: usize,
    percent: usize,
    bar: String,
    open_count: usize,
    open: Vec<TaskRow>,
    open_more: usize,
    claimed: Vec<TaskRow>,
    done_recent: Vec<TaskRow>,
    done_more: usize,
    failed: Vec<TaskRow>,
}

#[derive(Debug, Serialize, Default)]
struct Counts {
    workstreams: usize,
    tasks: usize,
    open: usize,
    claimed: usize,
    done: usize,
    failed: usize,
    cancelled: usize,
    agents: usize,
    stale: usize,
    /// Held and not expired by the branch's own time.
    locks: usize,
    expired_locks: usize,
    topics: usize,
}

#[derive(Debug, Serialize)]
struct AgentView {
    id: String,
    role: String,
    status: String,
    age: String,
    stale: bool,
}

#[derive(Debug, Serialize)]
struct LockView {
    resource: String,
    holder: String,
    expires: String,
    expired: bool,
    token: u64,
}

#[derive(Debug, Serialize)]
struct EventView {
    time: String,
    agent: String,
    kind: String,
    summary: String,
}

#[derive(Debug, Serialize)]
struct TopicView {
    topic: String,
    link: String,
    size: usize,
    by: String,
    age: String,
    html: String,
}

#[derive(Debug, Serialize)]
struct Page {
    branch: String,
    as_of: String,
    counts: Counts,
    workstreams: Vec<WsView>,
    agents: Vec<AgentView>,
    locks: Vec<LockView>,
    events: Vec<EventView>,
    topics: Vec<TopicView>,
}

/// The rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub readme: String,
    pub html: String,
}

fn row(task: &Task, blocked: bool) -> TaskRow {
    TaskRow {
        id: task.id.clone(),
        title: clean(&task.title),
        priority: task.priority,
        holder: clean(&task.claimed_by.clone().unwrap_or_default()),
        blocked,
    }
}

/// Text from the branch with control characters replaced: neither page nor
/// README may carry terminal escapes or bells.
fn clean(text: &str) -> String {
    crate::model::names::terminal_safe(text)
}

/// Markdown for one table cell or inline run: one line, no control
/// characters, Markdown and HTML syntax escaped.
pub fn md_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.split_whitespace().collect::<Vec<_>>().join(" ").chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '~' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Knowledge Markdown as safe HTML: no scripts, no event handlers, no
/// `javascript:` links, links opened without a referrer.
pub fn safe_html(markdown: &str) -> String {
    let clipped = if markdown.len() > TOPIC_BYTES_SHOWN {
        let mut end = TOPIC_BYTES_SHOWN;
        while !markdown.is_char_boundary(end) {
            end -= 1;
        }
        &markdown[..end]
    } else {
        markdown
    };
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(clipped));
    // Images go too: the page makes no requests (a remote image is a
    // tracking pixel), and its CSP would block them anyway.
    ammonia::Builder::default().rm_tags(["img"]).link_rel(Some("noopener noreferrer nofollow")).clean(&html).to_string()
}

fn bar(done: usize, total: usize) -> String {
    let filled = (done * 20 + total / 2).checked_div(total).unwrap_or(0).min(20);
    format!("{}{}", "█".repeat(filled), "░".repeat(20 - filled))
}

/// The time of the newest operation in the branch, ignoring renders.
fn newest_operation(snap: &Snapshot<'_>) -> Result<DateTime<Utc>> {
    let Some(tip) = snap.commit else { return Ok(DateTime::<Utc>::UNIX_EPOCH) };
    for (commit, message) in snap.store.commits_since(tip, None, 200)? {
        if !message.contains("\"op\":\"dashboard.render\"") {
            return snap.store.commit_time(commit);
        }
    }
    snap.store.commit_time(tip)
}

fn gather(snap: &Snapshot<'_>, branch: &str) -> Result<Page> {
    let (settings, _) = snap.settings();
    let as_of = newest_operation(snap)?;
    let board = Board::load(snap, None, None)?;
    let mut counts = Counts::default();
    let mut workstreams = Vec::new();
    for name in snap.workstream_names()?.items {
        let Ok(Some(ws)) = snap.workstream(&name) else { continue };
        if ws.archived {
            continue;
        }
        let mut tasks: Vec<&Task> = board.tasks.iter().filter(|t| t.workstream == name).collect();
        tasks.sort_by(|a, b| a.next_order().cmp(&b.next_order()));
        let by = |s: Status| tasks.iter().filter(move |t| t.status == s);
        let open: Vec<&&Task> = by(Status::Open).collect();
        let mut done: Vec<&&Task> = by(Status::Done).collect();
        done.sort_by(|a, b| (b.finished_at, &b.id).cmp(&(a.finished_at, &a.id)));
        let total = tasks.len() - by(Status::Cancelled).count();
        let done_count = done.len();
        let mut open_rows = Vec::new();
        for task in open.iter().take(OPEN_SHOWN) {
            open_rows.push(row(task, !board.blockers(snap, task)?.is_empty()));
        }
        workstreams.push(WsView {
            description: clean(&ws.description),
            priority: ws.priority,
            done: done_count,
            total,
            percent: (done_count * 100).checked_div(total).unwrap_or(0),
            bar: bar(done_count, total),
            open_count: open.len(),
            open: open_rows,
            open_more: open.len().saturating_sub(OPEN_SHOWN),
            claimed: by(Status::Claimed).take(CLAIMED_SHOWN).map(|t| row(t, false)).collect(),
            done_recent: done.iter().take(DONE_SHOWN).map(|t| row(t, false)).collect(),
            done_more: done_count.saturating_sub(DONE_SHOWN),
            failed: by(Status::Failed).take(DONE_SHOWN).map(|t| row(t, false)).collect(),
            name,
        });
    }
    workstreams.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    for task in &board.tasks {
        counts.tasks += 1;
        match task.status {
            Status::Open => counts.open += 1,
            Status::Claimed => counts.claimed += 1,
            Status::Done => counts.done += 1,
            Status::Failed => counts.failed += 1,
            Status::Cancelled => counts.cancelled += 1,
        }
    }
    counts.workstreams = workstreams.len();
    let mut agents_list = snap.agents()?.items;
    agents_list.sort_by(|a, b| a.id.cmp(&b.id));
    let agents: Vec<AgentView> = agents_list
        .iter()
        .map(|a| {
            let stale = a.is_stale(as_of, settings.stale_after, settings.clock_grace);
            counts.stale += usize::from(stale);
            AgentView {
                id: a.id.clone(),
                role: clean(&a.role),
                status: clean(&a.status),
                age: format_age(as_of - a.last_seen),
                stale,
            }
        })
        .collect();
    counts.agents = agents.len();
    // Judged by the branch's own time (its newest operation), not this
    // machine's clock or observations, so every machine renders the same
    // page. The page takes nothing away from anyone: a lock whose written
    // expiry is behind that time shows as expired, as its "ago" says, even
    // while a holder with a skewed clock may still renew it.
    let locks: Vec<LockView> = all_locks(snap)?
        .items
        .iter()
        .filter(|l| l.is_held())
        .map(|l| {
            let expired = l.expires_at < as_of;
            LockView {
                resource: clean(&l.resource),
                holder: clean(&l.holder.clone().unwrap_or_default()),
                expires: if expired {
                    format!("expired {} ago", format_age(as_of - l.expires_at))
                } else {
                    format!("in {}", format_age(l.expires_at - as_of))
                },
                expired,
                token: l.token,
            }
        })
        .collect();
    counts.expired_locks = locks.iter().filter(|l| l.expired).count();
    counts.locks = locks.len() - counts.expired_locks;
    let events: Vec<EventView> = query(snap, &EventQuery { last: Some(EVENTS_SHOWN), ..Default::default() })?
        .items
        .into_iter()
        .rev()
        .map(|e| {
            let summary = match &e.data {
                serde_json::Value::Object(map) => ["task", "title", "resource", "topic", "subject", "note"]
                    .iter()
                    .filter_map(|k| map.get(*k).and_then(|v| v.as_str()))
                    .collect::<Vec<_>>()
                    .join(" · "),
                _ => String::new(),
            };
            EventView {
                time: e.ts.format("%Y-%m-%d %H:%M").to_string(),
                agent: clean(&e.agent),
                kind: clean(&e.kind),
                summary: clean(&summary),
            }
        })
        .collect();
    let topics: Vec<TopicView> = knowledge::list(snap)?
        .items
        .into_iter()
        .map(|t| {
            let text = knowledge::read(snap, &t.topic).ok().and_then(|t| t.text).unwrap_or_default();
            TopicView {
                link: format!("knowledge/{}.md", t.topic),
                size: t.size,
                by: clean(&t.updated_by.clone().unwrap_or_default()),
                age: t.updated_at.map_or("-".into(), |at| format_age(as_of - at)),
                html: safe_html(&text),
                topic: t.topic,
            }
        })
        .collect();
    counts.topics = topics.len();
    Ok(Page {
        branch: branch.into(),
        as_of: as_of.format("%Y-%m-%d %H:%M UTC").to_string(),
        counts,
        workstreams,
        agents,
        locks,
        events,
        topics,
    })
}

/// The noun for a count: `{{ n|noun("lock") }}` is "lock" for 1 and
/// "locks" otherwise; `{{ n|noun("entry", "entries") }}` for the irregular.
fn noun(count: i64, singular: String, plural: Option<String>) -> String {
    match (count, plural) {
        (1, _) => singular,
        (_, Some(plural)) => plural,
        (_, None) => format!("{singular}s"),
    }
}

fn engine() -> Environment<'static> {
    let mut env = Environment::new();
    // Escaping is decided by the template's name: HTML for .html.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_filter("md", |value: Template| md_inline(&value.to_string()));
    env.add_filter("noun", noun);
    env.add_template("README.md", README_TEMPLATE).expect("the README template parses");
    env.add_template("index.html", HTML_TEMPLATE).expect("the page template parses");
    env
}

/// Renders both files from the branch as of `snap`.
pub fn render(snap: &Snapshot<'_>, branch: &str) -> Result<Rendered> {
    let page = gather(snap, branch)?;
    let env = engine();
    let fail = |e: minijinja::Error| Error::new(Kind::Render, format!("cannot render the dashboard: {e}"));
    let readme = env.get_template("README.md").expect("added above").render(&page).map_err(fail)?;
    let html = env.get_template("index.html").expect("added above").render(&page).map_err(fail)?;
    Ok(Rendered { readme, html })
}

/// Renders docs/index.html's template alone; `live` is the page `orc
/// serve` shows at `/`: the same content, with its script (updates and
/// forms, from the server's own origin) allowed by its content policy.
pub fn render_page(snap: &Snapshot<'_>, branch: &str, live: bool) -> Result<String> {
    let page = gather(snap, branch)?;
    let env = engine();
    let context = minijinja::context! { live => live, ..Template::from_serialize(&page) };
    env.get_template("index.html")
        .expect("added above")
        .render(context)
        .map_err(|e| Error::new(Kind::Render, format!("cannot render the dashboard: {e}")))
}

/// The operation name of a render, which is not state.
pub const DASHBOARD_OP: &str = "dashboard.render";

/// Where the rendered files live in the branch.
pub const README_PATH: &str = "README.md";
pub const HTML_PATH: &str = "docs/index.html";
pub const NOJEKYLL_PATH: &str = "docs/.nojekyll";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_values_cannot_inject_markup() {
        assert_eq!(md_inline("<script>alert(1)</script>"), "&lt;script&gt;alert\\(1\\)&lt;/script&gt;");
        assert_eq!(md_inline("a|b\n[x](javascript:1)"), "a\\|b \\[x\\]\\(javascript:1\\)");
    }

    #[test]
    fn knowledge_html_is_sanitised() {
        let html = safe_html(
            "# T\n\n<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n\n<script>alert(1)</script>",
        );
        assert!(
            !html.contains("onerror") && !html.contains("href=\"javascript") && !html.contains("<script"),
            "{html}"
        );
        assert!(html.contains("<h1>T</h1>") && html.contains(">click</a>"), "{html}");
    }
}
