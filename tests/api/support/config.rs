//! The configuration and the database of one test.

use std::collections::BTreeMap;

use latchkey::config::{Settings, Sources};
use uuid::Uuid;

use super::browser::EXTENSION_ORIGIN;
use super::redis::{fresh_prefix, redis_url};

/// A fresh database for one test: a SQLite file in a temporary directory, or, when
/// `LATCHKEY__DATABASE__URL` names a PostgreSQL server, a new database on it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("LATCHKEY__DATABASE__URL") {
            Ok(url) if url.starts_with("postgres") => Self::postgres(&url).await,
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/latchkey.db?mode=rwc", dir.path().display());
                Self {
                    url,
                    _dir: Some(dir),
                }
            }
        }
    }

    async fn postgres(server_url: &str) -> Self {
        use sea_orm::{ConnectionTrait, Database};
        let name = format!("lk_test_{}", Uuid::new_v4().simple());
        let server = Database::connect(server_url)
            .await
            .expect("PostgreSQL at LATCHKEY__DATABASE__URL");
        server
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        let mut url = url::Url::parse(server_url).expect("database URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            _dir: None,
        }
    }
}

/// Builder for a test configuration: the test environment, a fresh database, a random Redis
/// key prefix, port 0, plus whatever the test overrides.
pub struct TestConfig {
    pub vars: BTreeMap<String, String>,
    /// A file layered as `--config` would be (the demo's `examples/demo.toml`).
    pub file: Option<std::path::PathBuf>,
}

impl TestConfig {
    pub fn new(db: &TestDb) -> Self {
        let mut vars = BTreeMap::new();
        let prefix = fresh_prefix();
        for (k, v) in [
            ("LATCHKEY__DATABASE__URL", db.url.as_str()),
            ("LATCHKEY__REDIS__URL", &redis_url()),
            ("LATCHKEY__REDIS__KEY_PREFIX", &prefix),
            ("LATCHKEY__SERVER__PORT", "0"),
            ("LATCHKEY__CORS__ALLOWED_ORIGINS", EXTENSION_ORIGIN),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        // The layout the Redis store writes; CI's PostgreSQL pass runs every test on `compact`.
        if let Ok(layout) = std::env::var("LATCHKEY__REDIS__LAYOUT") {
            vars.insert("LATCHKEY__REDIS__LAYOUT".to_owned(), layout);
        }
        Self { vars, file: None }
    }

    /// Layers `path` over the environment's file, under the variables.
    pub fn with_file(mut self, path: &str) -> Self {
        self.file = Some(path.into());
        self
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn settings(&self) -> Settings {
        Settings::load(&Sources {
            environment: Some("test".into()),
            config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
            config_file: self.file.clone(),
            env_vars: self.vars.clone(),
        })
        .expect("test configuration is valid")
    }

    pub fn prefix(&self) -> &str {
        &self.vars["LATCHKEY__REDIS__KEY_PREFIX"]
    }
}
