//! `ward generate-docs --out DIR` (hidden): the man page `ward(8)` and
//! shell completions, generated from the clap definitions so they never
//! drift from the real options. The Debian package build runs it.
//!
//! Writes `DIR/man/ward.8` and `DIR/completions/{ward.bash,_ward,ward.fish}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory to write `man/` and `completions/` into (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let man_dir = args.out.join("man");
    let comp_dir = args.out.join("completions");
    for dir in [&man_dir, &comp_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }

    let cmd = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .render(&mut page)
        .context("cannot render the man page")?;
    page.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    write(&man_dir.join("ward.8"), &page)?;

    for (shell, name) in [
        (Shell::Bash, "ward.bash"),
        (Shell::Zsh, "_ward"),
        (Shell::Fish, "ward.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "ward", &mut out);
        write(&comp_dir.join(name), &out)?;
    }
    println!("wrote {} and {}", man_dir.display(), comp_dir.display());
    Ok(ExitCode::SUCCESS)
}

/// What clap does not know: signals, exit codes, files, documentation.
const EXTRA_SECTIONS: &str = r#".SH SIGNALS
.TP
\fBSIGHUP\fR
With \fBlist.url\fR: poll the list endpoint now. Otherwise re-read and verify \fBlist.file\fR; a bad file keeps the list in force.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop receiving and drain answers in flight for at most 5 seconds.
.SH EXIT STATUS
.TP
\fB0\fR
Success.
.TP
\fB1\fR
Verification failure or invalid input (a list that does not verify, a name that is not a domain name, \fBward list status\fR on a node without a fresh list).
.TP
\fB64\fR
Usage or configuration error; every configuration problem is printed as FILE:LINE: KEY: message.
.SH FILES
.TP
\fI/etc/ward/ward.toml\fR
The configuration (see \fBward config check\fR).
.TP
\fI/var/lib/ward/list.ward\fR
The last-known-good signed list, loaded before the first answer after a restart.
.TP
\fI/var/lib/ward/state.json\fR
The highest list serial accepted; lists with a lower serial are refused as rollbacks.
.TP
\fI/usr/share/doc/ward/\fR
The configuration reference, the deployment guide, metrics and alerts.
.SH SEE ALSO
\fBdig\fR(1), \fBsystemctl\fR(1), \fBjournalctl\fR(1)
"#;

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::fsx::write_atomic(path, bytes, 0o644, true)
        .with_context(|| format!("cannot write {}", path.display()))
}
