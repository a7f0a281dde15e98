//! `ward list status`: ask a running `ward serve` which list it enforces
//! and how its updater is doing (`GET /list/status` on the admin
//! listener); then each extra list (`[[lists]]`), if any.
//!
//! Exit code 0 when a list is in force, it is not stale, and the last poll
//! (if any) succeeded, and every extra list is loaded, not stale, with no
//! failed update since its last success; 1 otherwise, so monitoring
//! scripts can use it as a check.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::EXIT_FAILURE;
use crate::update::{ExtraListStatus, ListStatus, UpdaterStatus};

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
    let updater_ok = |u: &Option<UpdaterStatus>| {
        u.as_ref()
            .is_none_or(|u| u.last_error.is_none() && !u.equivocation)
    };
    let healthy = status.loaded
        && !status.stale
        && updater_ok(&status.updater)
        && status
            .extra_lists
            .iter()
            .all(|l| l.loaded && !l.stale && l.last_error.is_none() && updater_ok(&l.updater));
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// A timestamp, or `-`.
fn ts(t: Option<jiff::Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

/// One `key: value` line, the values aligned.
fn line(out: &mut String, k: &str, v: String) {
    out.push_str(&format!("{k:<15} {v}\n"));
}

fn render(s: &ListStatus) -> String {
    let mut out = render_national(s);
    for extra in &s.extra_lists {
        out.push('\n');
        render_extra(&mut out, extra);
    }
    out
}

fn render_national(s: &ListStatus) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| line(&mut out, k, v);
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
        render_updater(&mut out, u);
    }
    out
}

fn render_updater(out: &mut String, u: &UpdaterStatus) {
    let mut line = |k: &str, v: String| line(out, k, v);
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

/// An extra list: its name, origin, list id and serial, SHA-256, state
/// (loaded, never loaded, the last error), and its updater's lines.
fn render_extra(out: &mut String, s: &ExtraListStatus) {
    line(out, "extra list:", s.name.clone());
    line(out, "source:", s.origin.clone());
    if s.loaded {
        line(
            out,
            "list:",
            format!(
                "{} serial {} ({} rules)",
                s.list_id.as_deref().unwrap_or("?"),
                s.serial.unwrap_or_default(),
                s.entries.unwrap_or_default()
            ),
        );
        line(out, "sha256:", s.sha256.clone().unwrap_or_default());
        let stale = if s.stale {
            "  STALE: expired, still enforced until a newer list arrives"
        } else {
            ""
        };
        line(out, "expires at:", format!("{}{stale}", ts(s.expires_at)));
        line(out, "activated at:", ts(s.activated_at));
    } else {
        line(
            out,
            "list:",
            "NONE: its profiles answer SERVFAIL (EDE 14) for names it would decide".to_owned(),
        );
    }
    // With an updater, its own lines give the last error.
    match &s.updater {
        Some(u) => {
            let state = if s.loaded { "loaded" } else { "never loaded" };
            line(out, "state:", state.to_owned());
            render_updater(out, u);
        }
        None => line(out, "state:", s.state()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn national() -> ListStatus {
        ListStatus {
            source: "file list.ward".into(),
            loaded: true,
            list_id: Some("vn-national".into()),
            serial: Some(7),
            sha256: Some("ab".repeat(32)),
            entries: Some(3),
            ..ListStatus::default()
        }
    }

    #[test]
    fn without_extra_lists_the_output_is_the_national_list_alone() {
        let text = render(&national());
        assert_eq!(text, render_national(&national()));
        assert!(
            text.starts_with(
                "source:         file list.ward\nlist:           vn-national serial 7 (3 rules)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("extra list"), "{text}");
        let json = serde_json::to_string(&national()).unwrap();
        assert!(!json.contains("extra_lists"), "{json}");
    }

    #[test]
    fn every_extra_list_follows_with_its_state() {
        let mut s = national();
        s.extra_lists = vec![
            ExtraListStatus {
                name: "school".into(),
                origin: "source school.txt".into(),
                loaded: true,
                list_id: Some("school".into()),
                serial: Some(1_796_656_397),
                sha256: Some("cd".repeat(32)),
                entries: Some(2),
                last_error: Some("1 invalid line(s) in school.txt".into()),
                ..ExtraListStatus::default()
            },
            ExtraListStatus {
                name: "moet".into(),
                origin: "https://lists.example/moet.ward".into(),
                updater: Some(UpdaterStatus {
                    last_result: Some("timeout".into()),
                    last_error: Some("no complete answer".into()),
                    consecutive_failures: 2,
                    ..UpdaterStatus::default()
                }),
                last_error: Some("no complete answer".into()),
                ..ExtraListStatus::default()
            },
        ];
        let text = render(&s);
        let want = [
            "\nextra list:     school\nsource:         source school.txt\nlist:           school serial 1796656397 (2 rules)\n",
            &format!("sha256:         {}\n", "cd".repeat(32)),
            "state:          loaded; the last update failed, version in force kept: 1 invalid line(s) in school.txt\n",
            "\nextra list:     moet\nsource:         https://lists.example/moet.ward\nlist:           NONE: its profiles answer SERVFAIL (EDE 14) for names it would decide\nstate:          never loaded\n",
            "last poll:      - (timeout)\nlast error:     no complete answer\n",
            "failures:       2 in a row\n",
        ];
        for part in want {
            assert!(text.contains(part), "{part:?} not in\n{text}");
        }
        let back: ListStatus = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
