//! Reading the layers: the embedded files, the files on disk, `--config`, the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ::config::{Config, Environment as EnvSource, File, FileFormat};

use super::{keys, ConfigError, Environment, Settings};

const EMBEDDED: [(&str, &str); 4] = [
    ("default", include_str!("../../config/default.toml")),
    ("development", include_str!("../../config/development.toml")),
    ("test", include_str!("../../config/test.toml")),
    ("production", include_str!("../../config/production.toml")),
];

/// Where the layers come from. `Default` reads the process environment, which is what the
/// binary wants; tests build one by hand so they never depend on the variables of the shell
/// that runs them.
#[derive(Debug, Clone)]
pub struct Sources {
    pub environment: Option<String>,
    pub config_dir: PathBuf,
    pub config_file: Option<PathBuf>,
    /// The variables named `LATCHKEY…` in any case, but for `LATCHKEY_ENV` and
    /// `LATCHKEY_CONFIG_DIR`. [`Settings::load`] refuses any that does not start exactly with
    /// `LATCHKEY__`.
    pub env_vars: BTreeMap<String, String>,
}

impl Sources {
    /// The layers as the process sees them: `LATCHKEY_ENV`, `LATCHKEY_CONFIG_DIR` (default
    /// `config`) and every other variable whose name starts with `LATCHKEY` in any case, so
    /// that a misspelt prefix (`LATCHKEY_SESSION__…`, `latchkey__…`, `LATCHKEY_ENVIRONMENT`)
    /// reaches [`Settings::load`] and is refused there instead of being ignored.
    pub fn from_process(config_file: Option<PathBuf>) -> Self {
        Self {
            environment: std::env::var("LATCHKEY_ENV").ok(),
            config_dir: std::env::var_os("LATCHKEY_CONFIG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("config")),
            config_file,
            env_vars: latchkey_vars(std::env::vars_os()),
        }
    }
}

/// The variables `from_process` hands to `load`. `vars_os`, because `std::env::vars` panics
/// on any variable that is not UTF-8, even one that is none of ours.
fn latchkey_vars(
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> BTreeMap<String, String> {
    vars.map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    })
    .filter(|(k, _)| {
        k.get(..PREFIX.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(PREFIX))
            && !NOT_KEYS.contains(&k.as_str())
    })
    .collect()
}

/// Every variable whose name starts with this, in any case, is latchkey's.
const PREFIX: &str = "LATCHKEY";
/// Where a setting's variable starts: `LATCHKEY__<SECTION>__<KEY>`.
const SETTING_PREFIX: &str = "LATCHKEY__";
/// The variables that are not settings (they choose the layers) and are read by name.
const NOT_KEYS: [&str; 2] = ["LATCHKEY_ENV", "LATCHKEY_CONFIG_DIR"];

/// A variable named like ours that is not one would be ignored, and the setting it was meant
/// to change (or, for `LATCHKEY_ENVIRONMENT=production`, the environment and its checks)
/// would stay as it was unseen: it is refused, by name only, since its value may be a secret.
fn refuse_stray_vars(vars: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let stray: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with(SETTING_PREFIX))
        .collect();
    let Some(first) = stray.first() else {
        return Ok(());
    };
    let more = match &stray[1..] {
        [] => String::new(),
        rest => format!("; also not read: {}", rest.join(", ")),
    };
    Err(ConfigError::key(
        first,
        format!(
            "not a variable latchkey reads: a setting is LATCHKEY__<SECTION>__<KEY> (upper case, \
             two underscores), the others are LATCHKEY_ENV and LATCHKEY_CONFIG_DIR{more}"
        ),
    ))
}

impl Settings {
    /// Reads every layer and validates the result.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        refuse_stray_vars(&sources.env_vars)?;
        let environment: Environment = sources
            .environment
            .as_deref()
            .unwrap_or("development")
            .parse()?;
        let mut builder = Config::builder();
        for name in ["default", environment.as_str()] {
            builder = add_layer(builder, name, &sources.config_dir);
        }
        if let Some(file) = &sources.config_file {
            if !file.is_file() {
                return Err(ConfigError::key(
                    "--config",
                    format!("cannot read {}", file.display()),
                ));
            }
            builder = builder.add_source(File::from(file.as_path()).format(FileFormat::Toml));
        }
        let env = EnvSource::with_prefix("LATCHKEY")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("cors.allowed_origins")
            .with_list_parse_key("extensions.redirect_uris")
            .with_list_parse_key("limits.trusted_proxies")
            .with_list_parse_key("redis.cluster_nodes")
            .try_parsing(true)
            .source(Some(sources.env_vars.clone().into_iter().collect()));
        let config = builder.add_source(env).build().map_err(ConfigError::from)?;
        refuse_unknown_keys(&config)?;
        let mut settings: Settings = config.try_deserialize().map_err(ConfigError::from)?;
        settings.environment = environment;
        // `LATCHKEY__REDIS__CLUSTER_NODES=` (empty) means no cluster, as `[]` does.
        settings
            .redis
            .cluster_nodes
            .retain(|n| !secrecy::ExposeSecret::expose_secret(n).trim().is_empty());
        settings.validate()?;
        Ok(settings)
    }
}

/// A key no setting reads is refused, at any depth and from any layer: left alone it would
/// be ignored, and the setting it was meant to change would keep its value unseen.
fn refuse_unknown_keys(config: &Config) -> Result<(), ConfigError> {
    let merged = ::config::Source::collect(config).map_err(ConfigError::from)?;
    let unknown = keys::unknown_keys::<Settings>(&merged);
    let Some(first) = unknown.first() else {
        return Ok(());
    };
    let more = match &unknown[1..] {
        [] => String::new(),
        rest => format!(
            "; also unknown: {}",
            rest.iter()
                .map(|u| u.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Err(ConfigError(format!("{first}{more}")))
}

fn add_layer(
    mut builder: ::config::ConfigBuilder<::config::builder::DefaultState>,
    name: &str,
    dir: &Path,
) -> ::config::ConfigBuilder<::config::builder::DefaultState> {
    if let Some((_, text)) = EMBEDDED.iter().find(|(n, _)| *n == name) {
        builder = builder.add_source(File::from_str(text, FileFormat::Toml));
    }
    let on_disk = dir.join(format!("{name}.toml"));
    builder.add_source(File::from(on_disk).format(FileFormat::Toml).required(false))
}
