//! Integration tests: the real `ward` binary, real files, real sockets.
#![allow(unreachable_pub)]

mod blockpage;
mod bypass;
mod cli;
mod collector;
mod collector_dashboard;
mod discovery;
mod doh;
mod dot;
mod hostile;
mod list_file;
mod probe;
mod process;
mod report;
mod rpz;
mod rpz_feed;
mod rpz_ixfr;
mod rpz_secondaries;
mod safe_search;
mod school_reports;
mod schools;
mod schools_hours;
mod schools_reload;
mod schools_url;
mod serve;
mod serve_lifecycle;
mod sni;
mod support;
mod update;
mod util;
