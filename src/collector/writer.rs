//! Group commit: one thread owns the writes. Handlers hand it their
//! accepted report and wait; it takes every report waiting (up to
//! [`MAX_BATCH`]) into one transaction, commits once, and answers each.
//! One fsync then covers many reports, which is what lets SQLite keep up
//! with thousands of nodes (one commit per report is some 300 a second
//! on the build VM; see docs/collector.md), and still nothing is
//! acknowledged before its commit.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::store::{Accepted, Inserted, Storage};

/// Most reports in one transaction.
pub const MAX_BATCH: usize = 512;
/// Reports waiting for the writer before handlers wait to enqueue.
pub const QUEUE: usize = 8192;

/// Why a report was not stored (the handler answers 503; the node retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("the storage writer has stopped")]
    Stopped,
}

struct Job {
    report: Accepted,
    done: oneshot::Sender<Result<Inserted, WriteError>>,
}

/// The handle handlers send to.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("report_id", &self.report.report.report_id)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread. It ends when every handle is dropped.
    pub fn start(store: Arc<dyn Storage>) -> std::io::Result<Self> {
        let (queue, mut jobs) = mpsc::channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("ward-collector-writer".into())
            .spawn(move || {
                while let Some(first) = jobs.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match jobs.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let (reports, waiting): (Vec<Accepted>, Vec<_>) =
                        batch.into_iter().map(|j| (j.report, j.done)).unzip();
                    match store.insert_reports(&reports) {
                        Ok(outcomes) => {
                            for (done, outcome) in waiting.into_iter().zip(outcomes) {
                                // A handler that gave up (client gone) is fine.
                                let _ = done.send(Ok(outcome));
                            }
                        }
                        Err(error) => {
                            let error = WriteError::Storage(error.to_string());
                            for done in waiting {
                                let _ = done.send(Err(error.clone()));
                            }
                        }
                    }
                }
            })?;
        Ok(Self { queue })
    }

    /// Stores one report; returns after its batch committed.
    pub async fn insert(&self, report: Accepted) -> Result<Inserted, WriteError> {
        let (done, wait) = oneshot::channel();
        self.queue
            .send(Job { report, done })
            .await
            .map_err(|_| WriteError::Stopped)?;
        wait.await.map_err(|_| WriteError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::conformance;
    use crate::collector::sqlite::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_reports_are_each_answered_after_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Storage> =
            Arc::new(SqliteStore::open(&dir.path().join("c.db")).unwrap());
        let writer = Writer::start(Arc::clone(&store)).unwrap();
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                // One node each: windows of one node arriving out of
                // order would (rightly) be flagged.
                let node = format!("n{i}");
                let r =
                    conformance::report(&node, "2026-11-29T18:00:00Z", "2026-11-29T18:05:00Z", 1);
                let first = writer.insert(r.clone()).await.unwrap();
                let again = writer.insert(r).await.unwrap();
                (first, again)
            }));
        }
        for t in tasks {
            let (first, again) = t.await.unwrap();
            assert_eq!(first, Inserted::Stored { flags: vec![] });
            assert_eq!(again, Inserted::Duplicate);
        }
        assert_eq!(store.report_count().unwrap(), 200);
    }
}
