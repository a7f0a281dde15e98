//! The `ward` binary: parse arguments, set up logging, run, map errors to
//! exit codes (0 success, 1 failure, 64 usage or configuration error).

use std::process::ExitCode;

use clap::Parser;
use ward::cli::{self, Cli, UsageError};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(cli::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ward: error: {}", ward::errors::chain(error.as_ref()));
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(cli::EXIT_USAGE)
            } else {
                ExitCode::from(cli::EXIT_FAILURE)
            }
        }
    }
}
