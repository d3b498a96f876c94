//! orc.toml: branch-wide settings every machine reads from the branch.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::duration::{format_duration, parse_duration};
use crate::error::{Error, Result};

pub const SETTINGS_PATH: &str = "orc.toml";

/// The settings `orc config set` may change (all durations).
pub const DURATION_KEYS: &[&str] =
    &["lease", "stale_after", "clock_grace", "expiry_slack", "render_interval", "net_timeout", "publish_timeout"];

/// The orc.toml of the fixed root commit. Never change these bytes: every
/// machine must derive the identical root commit (DESIGN §1).
pub const ROOT_SETTINGS: &str = "\
# orc coordination branch settings; edit here or on the git host.
# Durations: 30s, 5m, 2h, 1d.
schema = 1
# How long a claim lasts unless renewed by `orc a heartbeat`.
lease = \"30m\"
# An agent with no heartbeat for this long is shown stale.
stale_after = \"5m\"
# Slack for clocks that disagree between machines before a lease or lock counts as expired.
clock_grace = \"2m\"
# How often `orc sync` re-renders README.md and docs/index.html.
render_interval = \"5m\"
";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawSettings {
    schema: u32,
    lease: Option<String>,
    stale_after: Option<String>,
    clock_grace: Option<String>,
    expiry_slack: Option<String>,
    render_interval: Option<String>,
    net_timeout: Option<String>,
    publish_timeout: Option<String>,
}

/// Resolved settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub schema: u32,
    #[serde(serialize_with = "ser_duration")]
    pub lease: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub stale_after: Duration,
    /// Shown to people only: how far written times may disagree before an
    /// agent is shown stale. Never used to take a claim or lock away.
    #[serde(serialize_with = "ser_duration")]
    pub clock_grace: Duration,
    /// What a lease or lock gets past one whole TTL (or lease) of this
    /// machine's own observation before it counts as expired: process
    /// start-up, not clock disagreement (DESIGN §4).
    #[serde(serialize_with = "ser_duration")]
    pub expiry_slack: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub render_interval: Duration,
    /// How long a publishing command or a sync waits for a remote that does
    /// not answer before it fails, keeping its work locally (DESIGN §4).
    #[serde(serialize_with = "ser_duration")]
    pub net_timeout: Duration,
    /// How long a publishing command keeps trying against a remote that
    /// answers but keeps moving (other machines winning the push) before it
    /// fails with `busy`, keeping its work locally (issue 12).
    #[serde(serialize_with = "ser_duration")]
    pub publish_timeout: Duration,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            schema: 1,
            lease: Duration::minutes(30),
            stale_after: Duration::minutes(5),
            clock_grace: Duration::minutes(2),
            expiry_slack: Duration::seconds(1),
            render_interval: Duration::minutes(5),
            net_timeout: Duration::seconds(20),
            // Three net_timeouts: 16 agents on a hosted remote, where one
            // push round takes 1-2 s and each round has one winner, all get
            // their turn well within it (16 × 2 s = 32 s), while an agent
            // hears back within a minute instead of the 44-92 s tails of
            // issue 12 (and the 90 s per try, ten tries, before it).
            publish_timeout: Duration::seconds(60),
        }
    }
}

impl Settings {
    /// Parses orc.toml; unknown keys are ignored so newer branches stay readable.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let raw: RawSettings = super::record::parse(SETTINGS_PATH, bytes)?;
        if raw.schema != 1 {
            return Err(Error::broken_file(
                SETTINGS_PATH,
                None,
                format!("schema {} is newer than this orc understands (1); upgrade orc", raw.schema),
            ));
        }
        let defaults = Self::default();
        let field = |name: &str, value: Option<String>, default: Duration| -> Result<Duration> {
            match value {
                None => Ok(default),
                Some(text) => {
                    parse_duration(&text).map_err(|e| Error::broken_file(SETTINGS_PATH, None, format!("{name}: {e}")))
                }
            }
        };
        Ok(Self {
            schema: raw.schema,
            lease: field("lease", raw.lease, defaults.lease)?,
            stale_after: field("stale_after", raw.stale_after, defaults.stale_after)?,
            clock_grace: field("clock_grace", raw.clock_grace, defaults.clock_grace)?,
            expiry_slack: field("expiry_slack", raw.expiry_slack, defaults.expiry_slack)?,
            render_interval: field("render_interval", raw.render_interval, defaults.render_interval)?,
            net_timeout: field("net_timeout", raw.net_timeout, defaults.net_timeout)?,
            publish_timeout: field("publish_timeout", raw.publish_timeout, defaults.publish_timeout)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_settings_parse_to_the_defaults() {
        let parsed = Settings::parse(ROOT_SETTINGS.as_bytes()).unwrap();
        let defaults = Settings::default();
        assert_eq!(parsed.lease, defaults.lease);
        assert_eq!(parsed.stale_after, defaults.stale_after);
        assert_eq!(parsed.clock_grace, defaults.clock_grace);
    }

    #[test]
    fn net_timeout_defaults_to_20s_and_can_be_set() {
        assert_eq!(Settings::parse(ROOT_SETTINGS.as_bytes()).unwrap().net_timeout, Duration::seconds(20));
        let set = Settings::parse(b"schema = 1\nnet_timeout = \"2s\"\n").unwrap();
        assert_eq!(set.net_timeout, Duration::seconds(2));
    }

    #[test]
    fn publish_timeout_defaults_to_60s_and_can_be_set() {
        assert_eq!(Settings::parse(ROOT_SETTINGS.as_bytes()).unwrap().publish_timeout, Duration::seconds(60));
        let set = Settings::parse(b"schema = 1\npublish_timeout = \"5s\"\n").unwrap();
        assert_eq!(set.publish_timeout, Duration::seconds(5));
    }

    #[test]
    fn bad_duration_names_the_setting() {
        let err = Settings::parse(b"schema = 1\nlease = \"soon\"\n").unwrap_err();
        assert!(err.message.contains("lease"), "{}", err.message);
    }
}
