//! The durable records that requests leave behind — security events and vision usage — written
//! off the request's path (docs/operations.md, "Security events").
//!
//! A request hands its record to the [`Journal`] and goes on: the journal is a bounded queue
//! in memory that one background task drains into SQL, in batches. When the database does not
//! answer, the task keeps the batch and tries again, with a growing pause, until it does; the
//! queue meanwhile holds what comes in, up to its bound, and what comes beyond the bound is
//! dropped and counted (`latchkey_journal_dropped_total`). So a slow or absent database never
//! slows or fails a request, and an outage shorter than the queue loses nothing. A record the
//! database refuses for what it is (a user erased meanwhile: the usage row's foreign key) is
//! dropped and counted rather than tried forever. On a graceful shutdown the server flushes
//! the journal before it exits.
//!
//! The SQL itself is [`crate::accounts`]'s. [`prune`] keeps `audit.retention`.

mod journal;
mod prune;

pub use journal::{Journal, JournalMetrics, Record};
pub use prune::{prune_every, prune_interval};
