//! How a configuration value is written back as TOML: `serialize_with`
//! helpers for the settings types, which live in the modules that use
//! them (`dns`, `config`, `readers`).
//!
//! Each writes a value the way `config` reads it: durations as
//! humantime strings (`"1m 30s"`), byte sizes in the largest binary unit
//! that divides them (`"64MiB"`), addresses, networks and URLs by their
//! `Display`, paths as text. A leaf: it uses nothing of ward's.

use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use serde::Serializer;
use serde::ser::SerializeSeq;

/// A duration as a humantime string, e.g. `"1m 30s"` or `"1s 500ms"`.
pub fn duration<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*value).to_string())
}

/// A byte size: a string in the largest binary unit that divides it
/// exactly, else an integer (a string past `i64::MAX`, which TOML
/// integers cannot hold).
pub fn byte_size<S: Serializer, N: Copy + TryInto<u64>>(
    value: &N,
    s: S,
) -> Result<S::Ok, S::Error> {
    // Sizes are `u64` or `usize`; no `usize` ward runs on is wider.
    let bytes = (*value).try_into().unwrap_or(u64::MAX);
    match ByteSize::of(bytes) {
        ByteSize::Text(text) => s.serialize_str(&text),
        ByteSize::Integer(n) => s.serialize_i64(n),
    }
}

/// A size in bytes as TOML text, in the spelling of [`byte_size`].
pub fn byte_size_to_toml(bytes: u64) -> String {
    match ByteSize::of(bytes) {
        ByteSize::Text(text) => format!("\"{text}\""),
        ByteSize::Integer(n) => n.to_string(),
    }
}

/// How a byte size is written.
enum ByteSize {
    /// `"64MiB"`, or the digits of a size past `i64::MAX`.
    Text(String),
    Integer(i64),
}

impl ByteSize {
    fn of(bytes: u64) -> Self {
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if bytes != 0 && bytes.is_multiple_of(scale) {
                return Self::Text(format!("{}{unit}", bytes / scale));
            }
        }
        // TOML integers are 64-bit signed.
        match i64::try_from(bytes) {
            Ok(n) => Self::Integer(n),
            Err(_) => Self::Text(bytes.to_string()),
        }
    }
}

/// A byte size that serializes as [`byte_size`] does, for a key that is
/// written only sometimes (`Option<Bytes>`).
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl serde::Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        byte_size(&self.0, s)
    }
}

/// A count: an integer, or (past `i64::MAX`, which TOML integers cannot
/// hold) its decimal digits as a string.
pub fn count<S: Serializer, N: Copy + TryInto<i64> + Display>(
    value: &N,
    s: S,
) -> Result<S::Ok, S::Error> {
    match (*value).try_into() {
        Ok(n) => s.serialize_i64(n),
        Err(_) => s.collect_str(value),
    }
}

/// A value by its `Display`: an address, a network, a URL.
pub fn display<S: Serializer, T: Display>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// An optional value by its `Display`; use with
/// `skip_serializing_if = "Option::is_none"`.
pub fn display_some<S: Serializer, T: Display>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// Every value of a list by its `Display`.
pub fn displays<S: Serializer, T: Display>(values: &[T], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for v in values {
        seq.serialize_element(&v.to_string())?;
    }
    seq.end()
}

/// [`displays`] for an optional list; use with
/// `skip_serializing_if = "Option::is_none"`.
pub fn displays_opt<S: Serializer, T: Display>(
    values: &Option<Vec<T>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match values {
        Some(v) => displays(v, s),
        None => s.serialize_none(),
    }
}

/// A path as text; one that is not UTF-8 is written lossily.
pub fn path<S: Serializer, P: AsRef<Path>>(value: &P, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.as_ref().to_string_lossy())
}

/// An optional path as text; use with
/// `skip_serializing_if = "Option::is_none"`.
pub fn path_some<S: Serializer, P: AsRef<Path>>(
    value: &Option<P>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(p) => path(p, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_in_binary_units() {
        assert_eq!(byte_size_to_toml(64 << 20), "\"64MiB\"");
        assert_eq!(byte_size_to_toml(3 << 30), "\"3GiB\"");
        assert_eq!(byte_size_to_toml(1536), "1536");
        assert_eq!(byte_size_to_toml(0), "0");
        assert_eq!(byte_size_to_toml(u64::MAX), format!("\"{}\"", u64::MAX));
    }
}
