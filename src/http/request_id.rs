//! The id of the request being answered, for whatever answers it: the error envelope and the
//! sign-in pages show it, so that a person reporting a failure can quote the one id that
//! finds the request's log lines. The observing middleware sets it around each request
//! ([`scope`]); code outside a request sees none.

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `answer` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, answer: F) -> F::Output {
    REQUEST_ID.scope(id, answer).await
}

/// The id of the request being answered, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}
