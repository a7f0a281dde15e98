//! Config errors: each with its file, line and key path; all of them at
//! once.

use std::fmt;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as named to [`Config::load`](super::Config::load) or [`Config::parse`](super::Config::parse).
    pub file: String,
    /// 1-based; `None` when the problem is not on one line (a missing key
    /// of an absent section, an unreadable file).
    pub line: Option<usize>,
    /// Dotted key path, e.g. `dns.listen[1]`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config file, in file order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    pub(crate) fn whole_file(file: &str, message: String) -> Self {
        Self(vec![ConfigError {
            file: file.to_owned(),
            line: None,
            key: String::new(),
            message,
        }])
    }
}
