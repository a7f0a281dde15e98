//! `ward check`: the operator's question: is this name blocked, and why?
//!
//! One verdict per name, in argument order. A name blocked by a
//! confidential category is never echoed: it is shown as a keyed hash under
//! the list's salt, and its rule as `null`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{UsageError, load_trust};
use crate::domain::{DomainName, NameKey};
use crate::keys;
use crate::list::{self, Bytes, ListArtifact, RuleKind, TrustedKeys};
use crate::policy::{self, Context};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The list artifact to check against.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "demo",
        requires = "trust"
    )]
    list: Option<PathBuf>,
    /// Trusted public key(s) for the list.
    #[arg(long, value_name = "PUB")]
    trust: Vec<PathBuf>,
    /// Use the embedded demo list and key instead of --list/--trust.
    #[arg(long, conflicts_with_all = ["list", "trust"])]
    demo: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Names to check.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let list = match &args.list {
        Some(path) => {
            let trust = load_trust(&args.trust)?;
            list::open_file(path, &trust)
                .and_then(|l| l.deep_check().map(|()| l))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => {
            let key = keys::parse_public(list::DEMO_PUBLIC_KEY)
                .map_err(|e| anyhow::anyhow!("embedded demo key: {e}"))?;
            let trust: TrustedKeys = [key].into_iter().collect();
            list::verify(Bytes::Static(list::DEMO_ARTIFACT), &trust)
                .map_err(|e| anyhow::anyhow!("embedded demo list: {e}"))?
        }
    };
    if let Err(e) = list.check_expiry(jiff::Timestamp::now()) {
        eprintln!("ward: warning: {e}; verdicts below are from the expired list");
    }
    let mut invalid = 0usize;
    for raw in &args.names {
        // DomainName says precisely what is wrong with a name; the key is
        // the one every enforcement point uses.
        let checked = DomainName::parse(raw)
            .map_err(|e| e.to_string())
            .and_then(|name| {
                policy::key_of_text(name.as_str().as_bytes())
                    .map(|key| (name, key))
                    .map_err(|problem| format!("{problem:?}"))
            });
        let (name, key) = match checked {
            Ok(pair) => pair,
            Err(e) => {
                invalid += 1;
                eprintln!("ward: {raw:?}: not a valid domain name: {e}");
                continue;
            }
        };
        let line = verdict(&list, &name, &key, args.json);
        println!("{line}");
    }
    if invalid > 0 {
        if invalid == args.names.len() {
            return Err(UsageError(format!("{invalid} invalid name(s)")).into());
        }
        return Ok(ExitCode::from(super::EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders the verdict of [`policy::decide`] on one name.
fn verdict(list: &ListArtifact, name: &DomainName, key: &NameKey, json: bool) -> String {
    let block = policy::decide(list, key, &Context::NONE).block();
    let m = block.map(|b| b.rule);
    let shown = match block {
        Some(b) if b.confidential() => format!("confidential:{}", list.redacted(key)),
        _ => name.to_string(),
    };
    let category = block.map(|b| b.category_name(list).to_owned());
    let rule = m.and_then(|m| list.rule_text(key, &m));
    let kind = m.map(|m| match m.kind {
        RuleKind::Exact => "exact",
        RuleKind::Subtree => "subtree",
    });
    if json {
        serde_json::json!({
            "name": shown,
            "verdict": if m.is_some() { "block" } else { "allow" },
            "category": category,
            "rule": rule,
            "kind": kind,
            "confidential": m.is_some_and(|m| m.confidential),
            "list_serial": list.serial(),
            "list_id": list.list_id(),
        })
        .to_string()
    } else {
        match m {
            Some(m) => {
                let scope = match m.kind {
                    RuleKind::Exact => "this name only",
                    RuleKind::Subtree => "name and subdomains",
                };
                format!(
                    "{shown}\tblock\tcategory={} rule=\"{}\" ({scope}) list={} serial={}",
                    category.unwrap_or_default(),
                    rule.unwrap_or_else(|| "(confidential)".into()),
                    list.list_id(),
                    list.serial()
                )
            }
            None => format!(
                "{shown}\tallow\tlist={} serial={}",
                list.list_id(),
                list.serial()
            ),
        }
    }
}
