//! `orc config get [KEY]`, `orc config set KEY VALUE`: the branch's orc.toml
//! without a checkout of the orc branch.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::lazy::Lazy;
use super::output::Output;
use super::Ctx;
use crate::error::Result;
use crate::model::duration::format_duration;
use crate::ops::config::{SetConfig, SettingKey, SettingValue};
use crate::read::Snapshot;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the branch's settings, or one of them
    ///
    /// Example: orc config get lease
    Get(Lazy<GetArgs>),
    /// Change one setting of the branch's orc.toml (one commit, kept comments)
    ///
    /// Example: orc config set lease 45m
    Set(Lazy<SetArgs>),
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// lease, stale_after, clock_grace, expiry_slack, render_interval, net_timeout or publish_timeout
    pub key: Option<String>,
}

#[derive(Args, Debug)]
pub struct SetArgs {
    /// lease, stale_after, clock_grace, expiry_slack, render_interval, net_timeout or publish_timeout
    pub key: String,
    /// A duration: 30s, 5m, 2h, 1d
    pub value: String,
}

pub fn run(orc: &Ctx, cmd: &ConfigCommand) -> Result<Output> {
    match cmd {
        ConfigCommand::Get(args) => {
            let store = orc.store()?;
            let snap = Snapshot::current(&store)?;
            let settings = snap.settings_checked()?;
            let all = serde_json::to_value(&settings).expect("settings serialise");
            match &args.key {
                Some(key) => {
                    let key = SettingKey::new(key)?;
                    let value = all[key.as_str()].clone();
                    let human = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                    Ok(Output::new(json!({"key": key.as_str(), "value": value}), human))
                }
                None => {
                    let human: String = match &all {
                        Value::Object(map) => map.iter().map(|(k, v)| format!("{k} = {v}\n")).collect(),
                        _ => String::new(),
                    };
                    Ok(Output::new(all, human))
                }
            }
        }
        ConfigCommand::Set(args) => {
            let op = SetConfig { key: SettingKey::new(&args.key)?, value: SettingValue::new(&args.value)? };
            let set = orc.apply(&op)?.output;
            let value =
                crate::model::duration::parse_duration(&set.value).map(format_duration).unwrap_or(set.value.clone());
            Ok(Output::new(json!({"key": set.key, "value": value}), format!("set {} = {value}", set.key)))
        }
    }
}
