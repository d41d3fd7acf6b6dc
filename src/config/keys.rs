//! Refusing keys that do not exist. A misspelt key (`session.idle_timout`) would otherwise
//! be ignored, and the setting it meant to change would silently keep its default.
//!
//! The keys that exist are read from the settings types themselves, the names serde would
//! accept, so a field added to a settings struct is known here with no list to keep up to
//! date. The merged configuration tree is then walked against them: every key of every
//! table is checked, which names the full dotted key and where it came from (serde's
//! `deny_unknown_fields` names neither).

use std::fmt;

use ::config::{Map, Value, ValueKind};
use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// What config-rs records as the origin of a value read from environment variables.
const ENVIRONMENT_ORIGIN: &str = "the environment";

/// A key in the configuration that no setting reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The full dotted key, e.g. `session.idle_timout`.
    pub key: String,
    /// The known key that is spelt most like it, if one is close.
    pub suggestion: Option<String>,
    /// Where it was set: the environment variable, or the file.
    pub origin: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: unknown key", self.key)?;
        if let Some(known) = &self.suggestion {
            write!(f, ", did you mean {known}?")?;
        }
        if let Some(origin) = &self.origin {
            write!(f, " ({origin})")?;
        }
        Ok(())
    }
}

/// Every key of `root` that `T` would not read, in key order.
pub fn unknown_keys<T: DeserializeOwned>(root: &Map<String, Value>) -> Vec<UnknownKey> {
    let mut found = Vec::new();
    walk::<T>(root, &mut Vec::new(), &mut found);
    found
}

fn walk<T: DeserializeOwned>(
    table: &Map<String, Value>,
    path: &mut Vec<String>,
    found: &mut Vec<UnknownKey>,
) {
    let shape = shape_at::<T>(path);
    if shape == Shape::Leaf {
        return;
    }
    let mut keys: Vec<&String> = table.keys().collect();
    keys.sort();
    for key in keys {
        let value = &table[key];
        if let Shape::Struct(fields) = shape {
            if !fields.contains(&key.as_str()) {
                found.push(unknown(path, key, value, fields));
                continue;
            }
        }
        if let ValueKind::Table(inner) = &value.kind {
            path.push(key.clone());
            walk::<T>(inner, path, found);
            path.pop();
        }
    }
}

fn unknown(path: &[String], key: &str, value: &Value, fields: &[&str]) -> UnknownKey {
    let dotted = |last: &str| {
        let mut parts = path.to_vec();
        parts.push(last.to_owned());
        parts.join(".")
    };
    UnknownKey {
        key: dotted(key),
        suggestion: closest(key, fields).map(dotted),
        origin: origin(&dotted(key), value),
    }
}

/// The known name most like `key`, when it is close enough to be a likely typo: a few
/// letters apart, or one name extending the other (`issuer_url` for `issuer`).
fn closest<'f>(key: &str, fields: &[&'f str]) -> Option<&'f str> {
    let likeness = |field: &str| {
        let extends =
            key.len().min(field.len()) >= 3 && (key.starts_with(field) || field.starts_with(key));
        let edits = strsim::normalized_damerau_levenshtein(key, field);
        if extends {
            edits.max(0.7)
        } else {
            edits
        }
    };
    fields
        .iter()
        .map(|f| (likeness(f), *f))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f)
}

/// Where the key was set, for the operator to find it. A table has no origin of its own, so
/// its first value's is used.
fn origin(key: &str, value: &Value) -> Option<String> {
    let (leaf_key, leaf) = first_leaf(key.to_owned(), value);
    Some(describe_origin(&leaf_key, leaf.origin()?))
}

/// A value's origin as config-rs records it, said for the operator: an environment variable
/// is named as they wrote it, a file by its path.
pub fn describe_origin(key: &str, origin: &str) -> String {
    match origin {
        ENVIRONMENT_ORIGIN => format!(
            "set by LATCHKEY__{}",
            key.to_ascii_uppercase().replace('.', "__")
        ),
        file => format!("in {file}"),
    }
}

fn first_leaf(key: String, value: &Value) -> (String, &Value) {
    let ValueKind::Table(table) = &value.kind else {
        return (key, value);
    };
    match table.iter().min_by(|a, b| a.0.cmp(b.0)) {
        Some((name, inner)) => first_leaf(format!("{key}.{name}"), inner),
        None => (key, value),
    }
}

/// What a settings type expects at some dotted path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A struct: exactly these keys.
    Struct(&'static [&'static str]),
    /// A map of names the operator chooses (`providers`): any key, each value of one shape.
    Map,
    /// A value (string, number, list, duration…): nothing below it is a setting.
    Leaf,
}

/// Asks `T` what it expects at `path` by letting it deserialize from [`Probe`], which
/// follows `path` and records what the type asks for there.
fn shape_at<T: DeserializeOwned>(path: &[String]) -> Shape {
    let mut shape = None;
    let _ = T::deserialize(Probe {
        path,
        shape: &mut shape,
    });
    shape.unwrap_or(Shape::Leaf)
}

/// A deserializer with no data. A struct hands it its field names (`deserialize_struct`),
/// a map says it is one; the probe answers with a single entry, the next key of the path,
/// until the path ends, records the shape there and stops. The type never gets a value.
struct Probe<'a> {
    path: &'a [String],
    shape: &'a mut Option<Shape>,
}

impl Probe<'_> {
    fn stop<T>(self, shape: Shape) -> Result<T, Stop> {
        *self.shape = Some(shape);
        Err(Stop)
    }

    fn descend<'de, V: Visitor<'de>>(self, shape: Shape, visitor: V) -> Result<V::Value, Stop> {
        match self.path.split_first() {
            None => self.stop(shape),
            Some((key, rest)) => visitor.visit_map(Entry {
                key: Some(key),
                value: Some(Probe {
                    path: rest,
                    shape: self.shape,
                }),
            }),
        }
    }
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        self.stop(Shape::Leaf)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.descend(Shape::Struct(fields), visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.descend(Shape::Map, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct enum identifier ignored_any
    }
}

/// The one entry a probed struct or map sees: the next key of the path, then the probe.
struct Entry<'a> {
    key: Option<&'a str>,
    value: Option<Probe<'a>>,
}

impl<'de> MapAccess<'de> for Entry<'_> {
    type Error = Stop;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        match self.key.take() {
            Some(key) => seed.deserialize(StrDeserializer::new(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        match self.value.take() {
            Some(probe) => seed.deserialize(probe),
            None => Err(Stop),
        }
    }
}

/// How a probe ends: always, once it has seen what it came for (or cannot go further).
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Root {
        session: Inner,
        names: BTreeMap<String, Inner>,
        level: Option<String>,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Inner {
        idle_timeout: u32,
        #[serde(rename = "kind")]
        kind_of: Option<String>,
    }

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_probe_reads_shapes_from_the_types() {
        assert_eq!(
            shape_at::<Root>(&[]),
            Shape::Struct(&["session", "names", "level"])
        );
        assert_eq!(
            shape_at::<Root>(&path(&["session"])),
            Shape::Struct(&["idle_timeout", "kind"])
        );
        assert_eq!(shape_at::<Root>(&path(&["names"])), Shape::Map);
        assert_eq!(
            shape_at::<Root>(&path(&["names", "anything"])),
            Shape::Struct(&["idle_timeout", "kind"])
        );
        assert_eq!(shape_at::<Root>(&path(&["level"])), Shape::Leaf);
        assert_eq!(
            shape_at::<Root>(&path(&["session", "idle_timeout"])),
            Shape::Leaf
        );
    }

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        let fields = ["idle_timeout", "absolute_timeout", "store"];
        assert_eq!(closest("idle_timout", &fields), Some("idle_timeout"));
        assert_eq!(closest("stor", &fields), Some("store"));
        assert_eq!(closest("idle_timeout_secs", &fields), Some("idle_timeout"));
        assert_eq!(closest("colour", &fields), None);
    }
}
