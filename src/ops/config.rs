//! `orc config set`: changes one setting of the branch's orc.toml as an
//! operation, so nobody needs a checkout of the orc branch (a checked-out
//! branch is one orc refuses to move). Comments and other keys are kept.

use serde::{Deserialize, Serialize};

use super::{OpEnv, Operation, Plan};
use crate::error::{Error, Kind, Result};
use crate::model::duration::parse_duration;
use crate::model::names::validated_string;
use crate::model::settings::{Settings, DURATION_KEYS, ROOT_SETTINGS, SETTINGS_PATH};
use crate::read::Snapshot;

fn check_key(key: &str) -> Result<()> {
    if DURATION_KEYS.contains(&key) {
        return Ok(());
    }
    Err(Error::new(Kind::InvalidName, format!("{key:?} is not a setting of orc.toml"))
        .with("key", key)
        .with_hint(format!("settings are {}", DURATION_KEYS.join(", "))))
}

fn check_value(value: &str) -> Result<()> {
    match parse_duration(value) {
        Ok(d) if d > chrono::Duration::zero() => Ok(()),
        Ok(_) => Err(Error::new(Kind::InvalidInput, "a setting is a duration longer than zero")),
        Err(e) => Err(Error::new(Kind::InvalidInput, format!("{value:?} is not a duration: {e}"))
            .with_hint("durations look like 30s, 5m, 2h or 1d")),
    }
}

validated_string!(
    /// A key of orc.toml that `config set` may change.
    SettingKey,
    check_key
);
validated_string!(
    /// A setting's value: a duration longer than zero.
    SettingValue,
    check_value
);

/// One setting, as `config set` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetConfig {
    pub key: SettingKey,
    pub value: SettingValue,
}

/// orc.toml with `key = "value"` set: the key's line replaced, or a line
/// added at the end; every other line kept.
fn with_setting(text: &str, key: &str, value: &str) -> String {
    let line = format!("{key} = \"{value}\"");
    let mut replaced = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            let name = l.split('=').next().unwrap_or_default().trim();
            if !replaced && !l.trim_start().starts_with('#') && name == key {
                replaced = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !replaced {
        out.push(line);
    }
    out.join("\n") + "\n"
}

impl Operation for SetConfig {
    type Output = Setting;
    const NAME: &'static str = "config.set";

    fn plan(&self, snap: &Snapshot<'_>, _env: &OpEnv<'_>) -> Result<Plan<Setting>> {
        let current = match snap.file(SETTINGS_PATH)? {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => ROOT_SETTINGS.to_string(),
        };
        let next = with_setting(&current, &self.key, &self.value);
        // The whole file must still parse: a broken orc.toml is never written.
        Settings::parse(next.as_bytes())?;
        let setting = Setting { key: self.key.to_string(), value: self.value.to_string() };
        Ok(Plan::new(format!("set {} = {} in orc.toml", self.key, self.value), setting)
            .write(SETTINGS_PATH.to_string(), next.into_bytes())
            .detail("key", self.key.as_str())
            .detail("value", self.value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_replaces_its_line_and_keeps_the_rest() {
        let next = with_setting(ROOT_SETTINGS, "lease", "10m");
        assert!(next.contains("lease = \"10m\"") && !next.contains("lease = \"30m\""), "{next}");
        assert!(next.contains("# How long a claim lasts"), "comments stay: {next}");
        let added = with_setting(ROOT_SETTINGS, "expiry_slack", "2s");
        assert!(added.ends_with("expiry_slack = \"2s\"\n"), "{added}");
        assert_eq!(Settings::parse(added.as_bytes()).unwrap().expiry_slack, chrono::Duration::seconds(2));
    }

    #[test]
    fn keys_and_values_are_checked_when_decoded() {
        assert!(serde_json::from_str::<SettingKey>(r#""schema""#).is_err());
        assert!(serde_json::from_str::<SettingValue>(r#""soon""#).is_err());
        assert!(serde_json::from_str::<SettingValue>(r#""0s""#).is_err());
        assert!(serde_json::from_str::<SettingKey>(r#""lease""#).is_ok());
    }
}
