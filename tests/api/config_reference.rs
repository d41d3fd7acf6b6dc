//! The reference pages against the code: docs/configuration.md's table of keys against
//! `config/default.toml` and the keys latchkey
//! reads: every key has its row, with its environment variable and its default as the file
//! writes it, and every row is a key latchkey reads.

use std::collections::BTreeMap;

use latchkey::config::{Settings, Sources};

const DOC: &str = include_str!("../../docs/configuration.md");
const DEFAULTS: &str = include_str!("../../config/default.toml");

/// A row of the table: environment variable and default, by key.
struct Row {
    env: String,
    default: String,
}

/// The rows of the `## Keys` table.
fn documented() -> BTreeMap<String, Row> {
    let section = DOC
        .split("\n## Keys\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/configuration.md has a `## Keys` section");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        assert!(cells.len() >= 4, "a row of four cells: {line}");
        let key = cells[0]
            .trim_start_matches("| ")
            .trim_matches('`')
            .to_owned();
        let row = Row {
            env: cells[1].trim_matches('`').to_owned(),
            default: cells[2].to_owned(),
        };
        assert!(rows.insert(key.clone(), row).is_none(), "{key} twice");
    }
    assert!(rows.len() > 40, "the table is read: {} rows", rows.len());
    rows
}

/// `config/default.toml` as `(dotted key, value as written)`: a string without its quotes.
fn defaults() -> Vec<(String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in DEFAULTS.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once(" = ").expect("`key = value`");
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.push((format!("{section}.{key}"), value.to_owned()));
    }
    out
}

/// Every key latchkey reads, as the effective settings of the defaults list them.
fn read_keys() -> Vec<String> {
    let settings = Settings::load(&Sources {
        environment: Some("development".into()),
        config_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/config").into(),
        config_file: None,
        env_vars: BTreeMap::new(),
    })
    .expect("the defaults load");
    settings
        .redacted_listing()
        .expect("a listing")
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| key != "environment")
        .collect()
}

/// `LATCHKEY__SECTION__KEY`.
fn env_var(key: &str) -> String {
    format!("LATCHKEY__{}", key.to_uppercase().replace('.', "__"))
}

/// The row of `key`, or of its `providers.<name>.…` form.
fn row_of<'a>(rows: &'a BTreeMap<String, Row>, key: &str) -> Option<&'a Row> {
    rows.get(key).or_else(|| {
        let rest = key.strip_prefix("providers.")?;
        let (_, field) = rest.split_once('.')?;
        rows.get(&format!("providers.<name>.{field}"))
    })
}

#[test]
fn every_default_is_documented_with_its_variable_and_value() {
    let rows = documented();
    for (key, value) in defaults() {
        let row = rows.get(&key).unwrap_or_else(|| {
            panic!("{key} (config/default.toml) has no row in docs/configuration.md")
        });
        assert_eq!(row.env, env_var(&key), "the variable of {key}");
        assert_eq!(
            row.default,
            format!("`{value}`"),
            "the default of {key}: config/default.toml says {value}"
        );
    }
}

#[test]
fn every_key_latchkey_reads_is_documented_and_every_row_is_a_key() {
    let rows = documented();
    let keys = read_keys();
    for key in &keys {
        assert!(
            row_of(&rows, key).is_some(),
            "{key} is read by latchkey but has no row in docs/configuration.md"
        );
    }
    let defaults: Vec<String> = defaults().into_iter().map(|(k, _)| k).collect();
    for (key, row) in &rows {
        let generic = key.starts_with("providers.<name>.");
        let real = generic || keys.iter().any(|k| k == key) || defaults.iter().any(|k| k == key);
        assert!(
            real,
            "docs/configuration.md documents {key}, which latchkey does not read"
        );
        if generic {
            let field = key.trim_start_matches("providers.<name>.");
            assert_eq!(
                row.env,
                format!("LATCHKEY__PROVIDERS__<NAME>__{}", field.to_uppercase())
            );
        } else {
            assert_eq!(row.env, env_var(key), "the variable of {key}");
        }
        if !defaults.contains(key) {
            assert_eq!(row.default, "unset", "{key} is not in config/default.toml");
        }
    }
}

/// The codes of docs/api.md's table of error codes.
fn api_error_codes() -> Vec<String> {
    let api = include_str!("../../docs/api.md");
    let table = api
        .split("\n### Error codes\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/api.md has `### Error codes`");
    let mut codes = Vec::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split(" | ").next().unwrap_or_default();
        codes.extend(first.split('`').skip(1).step_by(2).map(str::to_owned));
    }
    assert!(codes.len() > 30, "the table is read: {codes:?}");
    codes
}

#[test]
fn troubleshooting_covers_every_error_code_a_client_can_meet() {
    let page = include_str!("../../docs/troubleshooting.md");
    for code in api_error_codes() {
        assert!(
            page.contains(&format!("`{code}`")),
            "docs/troubleshooting.md does not say what to do about `{code}`"
        );
    }
    // The callback's refusals too, every one of them.
    for refusal in latchkey::login::Refusal::ALL {
        let code = refusal.code();
        assert!(page.contains(&format!("`{code}`")), "{code}");
    }
}
