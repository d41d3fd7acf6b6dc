//! The bounded queue and the task that drains it into SQL (see the module's doc).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounterVec;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::accounts::events::{self, SecurityEvent};
use crate::accounts::{self, UsageRecord};

/// Records written per statement.
const BATCH: usize = 200;
/// The first pause after a failed write; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// What the journal writes.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Box<SecurityEvent>),
    Usage(UsageRecord),
}

impl Record {
    fn label(&self) -> &'static str {
        match self {
            Self::Event(_) => "event",
            Self::Usage(_) => "usage",
        }
    }
}

/// The journal's counters, labelled by `record` (`event` or `usage`).
#[derive(Clone)]
pub struct JournalMetrics {
    pub written: IntCounterVec,
    pub dropped: IntCounterVec,
    /// Writes that failed and were tried again, by `record`.
    pub retried: IntCounterVec,
}

/// The door requests use (cheap to clone: one queue per application).
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Record>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    metrics: JournalMetrics,
}

impl Journal {
    /// Starts the task that writes to `db`, behind a queue of `capacity` records.
    pub fn start(db: DatabaseConnection, capacity: usize, metrics: JournalMetrics) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (stop, stopped) = watch::channel(false);
        let writer = Writer {
            db,
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(writer.run(rx, stopped));
        Self {
            tx,
            stop: Arc::new(stop),
            task: Arc::new(Mutex::new(Some(task))),
            metrics,
        }
    }

    /// Queues a security event; never waits.
    pub fn event(&self, event: SecurityEvent) {
        self.push(Record::Event(Box::new(event)));
    }

    /// Queues a usage record; never waits.
    pub fn usage(&self, record: UsageRecord) {
        self.push(Record::Usage(record));
    }

    fn push(&self, record: Record) {
        let label = record.label();
        if self.tx.try_send(record).is_err() {
            let dropped = self.metrics.dropped.with_label_values(&[label]);
            dropped.inc();
            // A full queue drops every record that comes: said at the 1st, 2nd, 4th, 8th…
            // drop, not at each, so an outage does not flood the log.
            let n = dropped.get();
            if n.is_power_of_two() {
                tracing::warn!(
                    record = label,
                    dropped = n,
                    "journal full or closed: records dropped"
                );
            }
        }
    }

    /// Writes what is queued and stops the task, waiting at most `within` for the database.
    /// Returns whether everything queued was written or refused (not left behind). Records
    /// queued after this are dropped and counted.
    pub async fn flush(&self, within: Duration) -> bool {
        let _ = self.stop.send(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        let Some(mut task) = task else {
            return true;
        };
        match tokio::time::timeout(within, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                tracing::warn!("journal not flushed in time: queued records are lost");
                false
            }
        }
    }
}

struct Writer {
    db: DatabaseConnection,
    metrics: JournalMetrics,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Record>, mut stopped: watch::Receiver<bool>) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return;
                    }
                }
                _ = stopped.changed() => {
                    // Take no more, then write what is queued.
                    rx.close();
                    while rx.recv_many(&mut batch, BATCH).await > 0 {
                        self.write(std::mem::take(&mut batch)).await;
                    }
                    return;
                }
            }
            self.write(std::mem::take(&mut batch)).await;
        }
    }

    /// Writes a batch, trying again until the database answers.
    async fn write(&self, batch: Vec<Record>) {
        let mut events = Vec::new();
        let mut usage = Vec::new();
        for record in batch {
            match record {
                Record::Event(e) => events.push(*e),
                Record::Usage(u) => usage.push(u),
            }
        }
        self.until_answered("event", &events, |db, rows| {
            Box::pin(async move { events::record(db, rows).await })
        })
        .await;
        self.until_answered("usage", &usage, |db, rows| {
            Box::pin(async move { accounts::record_usages(db, rows).await })
        })
        .await;
    }

    async fn until_answered<T>(&self, label: &str, rows: &[T], write: WriteFn<T>) {
        if rows.is_empty() {
            return;
        }
        let mut pause = FIRST_PAUSE;
        loop {
            match write(&self.db, rows).await {
                Ok(()) => {
                    self.metrics
                        .written
                        .with_label_values(&[label])
                        .inc_by(rows.len() as u64);
                    return;
                }
                Err(e) if is_refusal(&e) => return self.one_by_one(label, rows, write).await,
                Err(e) => {
                    self.metrics.retried.with_label_values(&[label]).inc();
                    tracing::warn!(record = label, error = %e, retry_in_ms = pause.as_millis() as u64, "journal write failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// A batch the database refused for its content: each row alone, so that only the
    /// refused ones are dropped.
    async fn one_by_one<T>(&self, label: &str, rows: &[T], write: WriteFn<T>) {
        for row in rows.chunks(1) {
            let mut pause = FIRST_PAUSE;
            loop {
                match write(&self.db, row).await {
                    Ok(()) => {
                        self.metrics.written.with_label_values(&[label]).inc();
                        break;
                    }
                    Err(e) if is_refusal(&e) => {
                        self.metrics.dropped.with_label_values(&[label]).inc();
                        tracing::warn!(record = label, error = %e, "the database refused a journal record; dropped");
                        break;
                    }
                    Err(_) => {
                        self.metrics.retried.with_label_values(&[label]).inc();
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
        }
    }
}

type WriteFn<T> = for<'a> fn(
    &'a DatabaseConnection,
    &'a [T],
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), DbErr>> + Send + 'a>,
>;

/// The database answered and refused the rows themselves (a constraint): trying again would
/// fail again. Anything else (no connection, a timeout, a lock) may pass later.
fn is_refusal(e: &DbErr) -> bool {
    e.sql_err().is_some()
}
