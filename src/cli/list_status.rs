//! `ward list status`: ask a running `ward serve` which list it enforces
//! and how its updater is doing (`GET /list/status` on the admin
//! listener).
//!
//! Exit code 0 when a list is in force, it is not stale, and the last poll
//! (if any) succeeded; 1 otherwise, so monitoring scripts can use it as a
//! check.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::EXIT_FAILURE;
use crate::update::ListStatus;

/// How long to wait for the admin listener.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The admin listener of the running ward (`admin.listen`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9153")]
    admin: SocketAddr,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let url = format!("http://{}/list/status", args.admin);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = runtime.block_on(async {
        crate::update::fetch::install_crypto();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .build()?;
        let response = client.get(&url).send().await?.error_for_status()?;
        response.text().await
    });
    let body = body.with_context(|| {
        format!(
            "cannot get {url}: is `ward serve` running with admin.listen = \"{}\"?",
            args.admin
        )
    })?;
    let status: ListStatus = serde_json::from_str(&body)
        .with_context(|| format!("{url} did not return a list status"))?;
    if args.json {
        println!("{}", body.trim_end());
    } else {
        print!("{}", render(&status));
    }
    let healthy = status.loaded
        && !status.stale
        && status
            .updater
            .as_ref()
            .is_none_or(|u| u.last_error.is_none() && !u.equivocation);
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

fn render(s: &ListStatus) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<15} {v}\n"));
    let ts = |t: Option<jiff::Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_string());
    line("source:", s.source.clone());
    if s.loaded {
        line(
            "list:",
            format!(
                "{} serial {} ({} rules)",
                s.list_id.as_deref().unwrap_or("?"),
                s.serial.unwrap_or_default(),
                s.entries.unwrap_or_default()
            ),
        );
        line("sha256:", s.sha256.clone().unwrap_or_default());
        line("issued at:", ts(s.issued_at));
        line(
            "expires at:",
            format!(
                "{}{}",
                ts(s.expires_at),
                if s.stale {
                    "  STALE: expired, still enforced until a newer list arrives"
                } else {
                    ""
                }
            ),
        );
        line("activated at:", ts(s.activated_at));
    } else {
        line(
            "list:",
            "NONE: no verified list; answering SERVFAIL (EDE 14)".to_owned(),
        );
    }
    if let Some(u) = &s.updater {
        line(
            "last poll:",
            format!(
                "{} ({})",
                ts(u.last_poll_at),
                u.last_result.as_deref().unwrap_or("none yet")
            ),
        );
        if let Some(e) = &u.last_error {
            line("last error:", e.clone());
        }
        line("last success:", ts(u.last_success_at));
        line("failures:", format!("{} in a row", u.consecutive_failures));
        line("next poll:", ts(u.next_poll_at));
        line("highest serial:", u.highest_serial.to_string());
        if u.equivocation {
            line(
                "ALARM:",
                "the endpoint equivocates: two different lists under one serial".to_owned(),
            );
        }
    }
    out
}
