//! `ward config check`: validate a config file, reporting every problem at
//! once as `FILE:LINE: KEY: message`, before a `ward serve` would refuse it;
//! with `--print`, write the effective configuration back out as TOML.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use super::UsageError;
use crate::config::Config;
use crate::keys::{self, KeyId};
use crate::list::RuleKind;
use crate::metrics::Metrics;
use crate::policy::{self, Context, Verdict};
use crate::update::ListSource;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The config file. Relative paths in it are taken from the current
    /// directory.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Production check: trusting the public demo key is an error, not a
    /// warning. The packaged systemd unit runs this before starting.
    #[arg(long)]
    strict: bool,
    /// After a successful check, print the effective configuration (every
    /// key, defaults filled in) as TOML on stdout; the `OK` line goes to
    /// stderr, so stdout is a config file.
    #[arg(long)]
    print: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = match Config::load(&args.file) {
        Ok(config) => config,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            return Err(UsageError(format!(
                "{} error(s) in {}",
                errors.0.len(),
                args.file.display()
            ))
            .into());
        }
    };
    let mut demo = false;
    for (i, trusted) in config.list.trusted_keys.iter().enumerate() {
        if KeyId::of(trusted.key()).to_string() == keys::DEMO_KEY_ID {
            demo = true;
            let level = if args.strict { "error" } else { "warning" };
            eprintln!(
                "ward: {level}: list.trusted_keys[{i}] ({}) is the public demo key; anyone can sign with it, never trust it in production",
                trusted.path().display()
            );
        }
    }
    if demo && args.strict {
        eprintln!(
            "ward: {}: refusing (--strict): replace the demo key with the ministry's public key(s) in list.trusted_keys",
            args.file.display()
        );
        return Ok(ExitCode::from(super::EXIT_FAILURE));
    }
    warn_ineffective_allows(&config);
    let ok = format!("{}: OK: {}", args.file.display(), summary(&config));
    if args.print {
        eprintln!("{ok}");
        print!("{}", config.to_toml());
    } else {
        println!("{ok}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Mandatory means mandatory: warns, by name, about each `allow` entry
/// the national list (as the node would load it from disk) blocks, since
/// it has no effect. Entries in confidential categories are never named,
/// only counted. Only warnings: the exit status is not changed.
fn warn_ineffective_allows(config: &Config) {
    let allows: Vec<_> = config
        .profiles
        .iter()
        .filter_map(|p| p.allow.as_ref().map(|a| (p, a)))
        .filter(|(_, a)| !a.entries.is_empty())
        .collect();
    if allows.is_empty() {
        return;
    }
    let metrics = Metrics::new();
    let national = match ListSource::peek(&config.list, metrics.list()) {
        Ok(list) => list,
        Err(e) => {
            eprintln!(
                "ward: warning: allow entries not checked against the national list: it cannot be loaded from disk: {e}"
            );
            return;
        }
    };
    for (profile, allow) in allows {
        let mut confidential = 0usize;
        for (name, kind) in &allow.entries {
            let Verdict::Block(block) = policy::decide(&national, &name.key(), &Context::NONE)
            else {
                continue;
            };
            let secret = block.confidential()
                || block
                    .category_info(&national)
                    .is_some_and(|c| c.confidential);
            if secret {
                confidential += 1;
                continue;
            }
            // A subtree entry over a name the national list blocks alone
            // still allows what is under it.
            let whole = *kind == RuleKind::Exact || block.rule.kind == RuleKind::Subtree;
            let scope = if whole { "" } else { " on the name itself" };
            eprintln!(
                "ward: warning: profile {}: allow entry {name} has no effect{scope}: the national list blocks it (category {})",
                profile.name,
                block.category_name(&national)
            );
        }
        if confidential > 0 {
            eprintln!(
                "ward: warning: profile {}: allow file {}: and {confidential} entries in confidential categories have no effect: the national list blocks them (not named)",
                profile.name,
                allow.path.display()
            );
        }
    }
}

/// Listen addresses, upstreams and block action, on one line.
fn summary(c: &Config) -> String {
    fn join<T: Display>(items: &[T]) -> String {
        let items: Vec<String> = items.iter().map(ToString::to_string).collect();
        items.join(" ")
    }
    let block = &c.block;
    let mut action = block.mode.as_str().to_owned();
    if block.mode == crate::config::BlockMode::Sinkhole {
        let addrs: Vec<String> = (block.ipv4.iter().map(ToString::to_string))
            .chain(block.ipv6.iter().map(ToString::to_string))
            .collect();
        action = format!("{action} ({})", addrs.join(" "));
    }
    let report = c.report.as_ref().map_or_else(
        || "no compliance reports".to_owned(),
        |r| {
            let school = match r.kind {
                crate::config::ReportKind::School => " (school reports)",
                crate::config::ReportKind::Isp => "",
            };
            format!(
                "reports every {} to {} as {}/{}{school}",
                humantime::format_duration(r.interval),
                r.url,
                r.isp_id,
                r.node_id
            )
        },
    );
    let profiles = if c.profiles.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = c.profiles.iter().map(|p| p.name.as_str()).collect();
        format!(
            "; {} profile(s) ({}) over {} extra list(s)",
            names.len(),
            names.join(", "),
            c.lists.len()
        )
    };
    format!(
        "listen {}; upstreams {}; block {action}; {report}{profiles}",
        join(&c.dns.listen),
        join(&c.dns.upstreams)
    )
}
