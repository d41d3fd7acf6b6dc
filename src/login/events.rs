//! The security events of a sign-in: `login` for the session it started (with the sessions
//! that start evicted beyond `session.max_per_user`), `login_failed` for a refusal.

use crate::accounts::events::{Actor, Kind, SecurityEvent};
use crate::audit::Journal;
use crate::session::{ClientInfo, Started, Transport};

use super::{Refusal, SignedIn};

/// A session was started for `signed_in.user_id` by `client`.
pub(super) fn logged_in(
    journal: &Journal,
    signed_in: &SignedIn,
    client: &ClientInfo,
    provider: &str,
    transport: Transport,
) {
    session_started(
        journal,
        signed_in.user_id,
        &signed_in.started,
        client,
        provider,
        signed_in.joined.as_str(),
        transport,
    );
}

/// The `login` event of a new session, and a `session_revoked` (`evicted`) for each session
/// its start ended.
pub(super) fn session_started(
    journal: &Journal,
    user_id: uuid::Uuid,
    started: &Started,
    client: &ClientInfo,
    provider: &str,
    joined: &str,
    transport: Transport,
) {
    let mut login = SecurityEvent::new(Kind::Login, Actor::User)
        .user(user_id)
        .session(started.token.hash().public_id())
        .client(&client.ip, &client.user_agent)
        .detail("transport", transport.as_str());
    if !provider.is_empty() {
        login = login.detail("provider", provider);
    }
    if !joined.is_empty() {
        login = login.detail("user", joined);
    }
    journal.event(login);
    for hash in &started.evicted {
        journal.event(
            SecurityEvent::new(Kind::SessionRevoked, Actor::System)
                .user(user_id)
                .session(hash.public_id())
                .reason("evicted"),
        );
    }
}

/// A callback refused a sign-in.
pub(super) fn refused(journal: &Journal, refusal: Refusal, client: &ClientInfo, provider: &str) {
    journal.event(
        SecurityEvent::new(Kind::LoginFailed, Actor::User)
            .client(&client.ip, &client.user_agent)
            .reason(refusal.code())
            .detail("provider", provider),
    );
}
