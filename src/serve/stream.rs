//! Change notifications: one task watches the branch's tip and every
//! server-sent-events client is told when it moves, with the tip as the
//! event id so a client that reconnects (`Last-Event-ID`) hears at once
//! about a move it missed, and nothing when it missed none.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::watch;

use super::reply::{ApiError, ApiResult};
use super::AppState;
use crate::api::Repo;
use crate::error::{Error, Kind};

/// How often the tip is read: a ref read, so "within a second of any
/// change" (DESIGN §9.1) costs a few reads a second.
const TIP_POLL: Duration = Duration::from_millis(200);
/// Event-stream clients at once.
pub const MAX_STREAMS: usize = 64;

/// The tip's name in events and entity tags before the branch exists.
fn tip_name(tip: Option<&str>) -> String {
    tip.unwrap_or("-").to_string()
}

/// Reads the tip and tells the streams if it moved.
async fn refresh_tip(repo: &Arc<Repo>, tips: &watch::Sender<String>) {
    let repo = repo.clone();
    if let Ok(Ok(tip)) = tokio::task::spawn_blocking(move || crate::api::reads::tip(&repo)).await {
        let tip = tip_name(tip.as_deref());
        tips.send_if_modified(|seen| {
            let moved = *seen != tip;
            if moved {
                seen.clone_from(&tip);
            }
            moved
        });
    }
}

/// Watches the tip until `stopping` turns true; then the streams end, so
/// a graceful shutdown is not held open by them.
pub async fn watch_tip(repo: Arc<Repo>, tips: Arc<watch::Sender<String>>, mut stopping: watch::Receiver<bool>) {
    loop {
        refresh_tip(&repo, &tips).await;
        tokio::select! {
            () = tokio::time::sleep(TIP_POLL) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

/// Counts a stream client; uncounted when its stream is dropped.
struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /api/stream`: a `tip` event now (unless `Last-Event-ID` names the
/// current tip) and at every move of the branch.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    if state.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
        state.streams.fetch_sub(1, Ordering::Relaxed);
        return Err(ApiError::with_status(
            Error::new(Kind::Busy, format!("the server already feeds {MAX_STREAMS} event streams"))
                .with_hint("close another dashboard tab, or poll /api/status with If-None-Match"),
            StatusCode::SERVICE_UNAVAILABLE,
        ));
    }
    let slot = StreamSlot(state.streams.clone());
    let last_seen = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    // The tip as of now, not as of the watcher's last look: the first
    // event must not name a tip the client may already be past.
    refresh_tip(&state.repo, &state.tips_tx).await;
    let tips = state.tips_tx.subscribe();
    let stopping = state.shutdown.clone();
    let events = futures_util::stream::unfold(
        (tips, stopping, last_seen, slot),
        |(mut tips, mut stopping, mut last_seen, slot)| async move {
            loop {
                let tip = tips.borrow_and_update().clone();
                if last_seen.as_deref() != Some(tip.as_str()) {
                    last_seen = Some(tip.clone());
                    let event = Event::default().event("tip").id(tip.clone()).data(format!("{{\"tip\":\"{tip}\"}}"));
                    return Some((Ok(event), (tips, stopping, last_seen, slot)));
                }
                tokio::select! {
                    changed = tips.changed() => if changed.is_err() { return None },
                    _ = stopping.wait_for(|s| *s) => return None,
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
