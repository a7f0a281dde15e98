//! `ward config check`: validate a config file, reporting every problem at
//! once as `FILE:LINE: KEY: message`, before a `ward serve` would refuse it;
//! with `--print`, write the effective configuration back out as TOML.

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use super::UsageError;
use crate::config::Config;
use crate::keys::{self, KeyId};

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
    let ok = format!("{}: OK: {}", args.file.display(), summary(&config));
    if args.print {
        eprintln!("{ok}");
        print!("{}", config.to_toml());
    } else {
        println!("{ok}");
    }
    Ok(ExitCode::SUCCESS)
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
            format!(
                "reports every {} to {} as {}/{}",
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
