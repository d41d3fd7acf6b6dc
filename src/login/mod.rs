//! Finishing a sign-in: the use case behind `GET /auth/{provider}/callback`, apart from HTTP.
//!
//! It takes the flow stored under `state` (single use, whatever else is wrong), checks that it
//! belongs to this provider and, in cookie mode, to this browser, exchanges the code, finds or
//! creates the user, and then:
//! - in cookie mode ends any session the browser already had (no fixation), starts a new one,
//!   and reads the user again once the session exists;
//! - in token mode starts no session: it issues a one-time code for the extension, which
//!   exchanges it with its PKCE verifier ([`token::exchange`]), so that the session token is
//!   never anywhere but in the extension.
//!
//! Each way it can fail is a [`Refusal`]; the handler maps them to pages, redirects, JSON and
//! metrics.

mod events;
mod lapse;
pub mod token;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::accounts::{self, AccountError, Joined, PublishError};
use crate::audit::Journal;
use crate::auth::code::{self, Grant};
use crate::auth::flow;
use crate::auth::oauth_error::{self, ErrorKind};
use crate::auth::token_mode::TokenFlow;
pub use crate::auth::Misconfiguration;
use crate::auth::{Provider, ProviderError};
use crate::http::error::error_chain;
use crate::session::{
    ClientInfo, Ending, Profile, Revoke, Scratch, SessionToken, Sessions, Started, Transport,
};
use crate::text;

/// What the browser brought back from the provider, and what it already had.
pub struct Callback<'a> {
    /// The provider whose callback route this is.
    pub provider_name: &'a str,
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    /// Set by the provider instead of a code: `access_denied` when the user did not consent,
    /// another RFC 6749 code (`redirect_uri_mismatch`, `invalid_client`, …) when it refused
    /// latchkey's request.
    pub error: Option<&'a str>,
    /// The provider's words about `error`, for the log only.
    pub error_description: Option<&'a str>,
    /// The login binding cookie.
    pub binding: Option<&'a str>,
    /// A session this browser already had: ended before the new one starts.
    pub old_session: Option<SessionToken>,
    pub client: ClientInfo,
}

/// What finishing a sign-in needs.
pub struct Deps<'a> {
    pub sessions: &'a Sessions,
    /// Where the flows of `crate::auth::flow` are kept.
    pub scratch: &'a Scratch,
    pub db: &'a DatabaseConnection,
    /// Where the `login`, `login_failed` and eviction events go.
    pub journal: &'a Journal,
}

/// A sign-in that succeeded: the user and their new session.
pub struct SignedIn {
    pub user_id: Uuid,
    pub started: Started,
    /// How the user was found: known, linked by email, or new.
    pub joined: Joined,
}

/// Where a token-mode flow sends the browser back, with the code or the error.
#[derive(Debug, Clone)]
pub struct ReturnTo {
    /// The redirect URI, exactly as registered.
    pub redirect_uri: String,
    /// The extension's own `state`, to give back.
    pub client_state: Option<String>,
}

impl From<&TokenFlow> for ReturnTo {
    fn from(t: &TokenFlow) -> Self {
        Self {
            redirect_uri: t.redirect_uri.clone(),
            client_state: t.client_state.clone(),
        }
    }
}

/// What a successful callback did.
pub enum Finished {
    /// Cookie mode: a session was started, for the session cookie.
    Session(SignedIn),
    /// Token mode: a one-time code to send back to the extension.
    Code {
        user_id: Uuid,
        /// The code itself: it goes into the redirect, nowhere else.
        code: String,
        back: ReturnTo,
    },
}

/// A refused callback, and where to tell the extension in token mode. `back` is `None` in
/// cookie mode and whenever the flow is not known (unknown, expired or replayed `state`): no
/// redirect is ever made to a place the stored flow does not name.
#[derive(Debug)]
pub struct Failed {
    pub refusal: Refusal,
    pub back: Option<ReturnTo>,
}

impl From<Refusal> for Failed {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            back: None,
        }
    }
}

/// Why a callback did not sign anyone in; none leaves a session behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ConsentDenied,
    /// The provider refused latchkey's authorization request for how latchkey is registered
    /// with it: an operator's or extension developer's mistake, not the user's. Its code is
    /// `provider_error`, as for any failure on the provider's side; only its words (and the
    /// log) say that it is a configuration error.
    ProviderMisconfigured(Misconfiguration),
    InvalidState,
    BindingMismatch,
    MissingCode,
    CodeRejected,
    NoVerifiedEmail,
    AccountDisabled,
    ProviderError,
    StoreUnavailable,
    DatabaseUnavailable,
}

impl Refusal {
    /// The stable code the page, the JSON answer and the metric carry.
    pub fn code(self) -> &'static str {
        match self {
            Self::ConsentDenied => "consent_denied",
            Self::ProviderMisconfigured(_) => "provider_error",
            Self::InvalidState => "invalid_state",
            Self::BindingMismatch => "binding_mismatch",
            Self::MissingCode => "missing_code",
            Self::CodeRejected => "code_rejected",
            Self::NoVerifiedEmail => "email_not_verified",
            Self::AccountDisabled => "account_disabled",
            Self::ProviderError => "provider_error",
            Self::StoreUnavailable => "session_store_unavailable",
            Self::DatabaseUnavailable => "database_unavailable",
        }
    }

    /// One refusal per code, for looking one up by its code (a configuration error shares
    /// `provider_error`).
    pub const ALL: [Self; 10] = [
        Self::ConsentDenied,
        Self::InvalidState,
        Self::BindingMismatch,
        Self::MissingCode,
        Self::CodeRejected,
        Self::NoVerifiedEmail,
        Self::AccountDisabled,
        Self::ProviderError,
        Self::StoreUnavailable,
        Self::DatabaseUnavailable,
    ];

    /// The refusal whose [`Refusal::code`] is `code`, if any.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// What the person in the sign-in tab reads.
    pub fn message(self) -> &'static str {
        match self {
            Self::ConsentDenied => "Sign-in was cancelled at the provider. You can close this tab and try again.",
            Self::ProviderMisconfigured(what) => what.message(),
            Self::InvalidState => "This sign-in link has expired or was already used. Start again from the extension.",
            Self::BindingMismatch => "This sign-in was started in another browser. Start again from the extension in this one.",
            Self::MissingCode => "The provider did not return an authorization code. Start again from the extension.",
            Self::CodeRejected => "The provider refused this sign-in. Start again from the extension.",
            Self::NoVerifiedEmail => "Your account has no verified email address. Verify one with the provider and try again.",
            Self::AccountDisabled => "This account is disabled.",
            Self::ProviderError => "The sign-in provider did not answer as expected. Try again in a moment.",
            Self::StoreUnavailable | Self::DatabaseUnavailable => "Signing in is unavailable right now. Try again in a moment.",
        }
    }

    /// The dependency whose failure this is, if any: `redis` or `database`.
    pub fn dependency(self) -> Option<&'static str> {
        match self {
            Self::StoreUnavailable => Some("redis"),
            Self::DatabaseUnavailable => Some("database"),
            _ => None,
        }
    }
}

impl From<ProviderError> for Refusal {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::CodeRejected(_) => Self::CodeRejected,
            ProviderError::NoVerifiedEmail => Self::NoVerifiedEmail,
            ProviderError::Misconfigured(what, _) => Self::ProviderMisconfigured(what),
            ProviderError::InvalidIdToken(_) | ProviderError::Unavailable(_) => Self::ProviderError,
        }
    }
}

/// Finishes the sign-in `callback` describes with `provider`, and records its security
/// events (`login` and the evictions it caused, or `login_failed`).
pub async fn finish(
    deps: &Deps<'_>,
    provider: &Provider,
    callback: Callback<'_>,
) -> Result<Finished, Failed> {
    let client = callback.client.clone();
    let provider_name = callback.provider_name.to_owned();
    let outcome = finish_inner(deps, provider, callback).await;
    match &outcome {
        Ok(Finished::Session(signed_in)) => events::logged_in(
            deps.journal,
            signed_in,
            &client,
            &provider_name,
            Transport::Cookie,
        ),
        // Token mode's session starts at the exchange, which records it.
        Ok(Finished::Code { .. }) => {}
        Err(failed) => events::refused(deps.journal, failed.refusal, &client, &provider_name),
    }
    outcome
}

async fn finish_inner(
    deps: &Deps<'_>,
    provider: &Provider,
    callback: Callback<'_>,
) -> Result<Finished, Failed> {
    let flow_state = callback.state.ok_or(Refusal::InvalidState)?;
    // Taken first, whatever else is wrong, so that a state is never usable twice.
    let login = flow::take(deps.scratch, flow_state)
        .await
        .map_err(|_| Refusal::StoreUnavailable)?
        .ok_or(Refusal::InvalidState)?;
    let back = login.token.as_ref().map(ReturnTo::from);
    let failed = |refusal| Failed {
        refusal,
        back: back.clone(),
    };
    let (user, joined) = identify(deps, provider, &callback, &login)
        .await
        .map_err(failed)?;
    match &login.token {
        None => start_session(deps, callback, user, joined)
            .await
            .map(Finished::Session)
            .map_err(Failed::from),
        Some(token) => {
            let grant = Grant {
                user_id: user.id,
                code_challenge: token.code_challenge.clone(),
                redirect_uri: token.redirect_uri.clone(),
                created_ms: crate::session::now_ms(),
                provider: callback.provider_name.to_owned(),
                joined: joined.as_str().to_owned(),
            };
            let code = code::issue(deps.scratch, &grant)
                .await
                .map_err(|_| failed(Refusal::StoreUnavailable))?;
            Ok(Finished::Code {
                user_id: user.id,
                code,
                back: ReturnTo::from(token),
            })
        }
    }
}

/// The checks of the flow, the provider's exchange, and the user it signs in.
async fn identify(
    deps: &Deps<'_>,
    provider: &Provider,
    callback: &Callback<'_>,
    login: &flow::Flow,
) -> Result<(entity::users::Model, Joined), Refusal> {
    if login.provider != callback.provider_name {
        return Err(Refusal::InvalidState);
    }
    // Cookie mode binds the flow to the browser that started it; token mode binds it to the
    // extension's PKCE challenge, checked when the code is exchanged.
    if login.token.is_none() && !callback.binding.is_some_and(|b| login.is_bound_to(b)) {
        return Err(Refusal::BindingMismatch);
    }
    if let Some(error) = callback.error {
        return Err(provider_said_no(
            callback.provider_name,
            provider.redirect_uri(),
            error,
            callback.error_description,
        ));
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::MissingCode)?;

    let identity = provider
        .identify(code, &login.pkce_verifier, &login.nonce)
        .await
        .inspect_err(|e| {
            tracing::warn!(provider = %callback.provider_name, error = %error_chain(e), "provider exchange failed");
        })?;
    let (user, joined) =
        accounts::sign_in_joined(deps.db, &identity)
            .await
            .map_err(|e| match e {
                AccountError::Disabled => Refusal::AccountDisabled,
                AccountError::Db(e) => {
                    tracing::error!(error = %e, "database error during login");
                    Refusal::DatabaseUnavailable
                }
            })?;
    Ok((lapse::notice(deps, user).await, joined))
}

/// The refusal for a provider that came back with `error` instead of a code (RFC 6749
/// 4.1.2.1), logged with the provider's `error` and `error_description` (neither is a secret:
/// the code never came), and for a configuration error the redirect URI latchkey sent.
///
/// Both come in the query of a request anyone can make: whoever starts a sign-in holds a valid
/// `state` and can come back with any `error`. So the log gets them shortened and without
/// control characters; `error` is read by [`oauth_error::classify`] (the token endpoint's
/// table too), which matches only RFC 6749's characters for a code, and only a known code
/// claims a configuration error, at WARN, said to be unverified.
fn provider_said_no(
    provider: &str,
    redirect_uri: &str,
    error: &str,
    description: Option<&str>,
) -> Refusal {
    let kind = oauth_error::classify(error);
    let error = loggable(error);
    let description = description.map(loggable).unwrap_or_default();
    match kind {
        ErrorKind::Misconfigured(what) => {
            tracing::warn!(provider, provider_error = %error, provider_error_description = %description, redirect_uri, fix = what.fix(), "the provider refused latchkey's sign-in request: a configuration error, as reported through the browser's redirect (unverified)");
            Refusal::ProviderMisconfigured(what)
        }
        ErrorKind::ProviderFailed => {
            tracing::warn!(provider, provider_error = %error, provider_error_description = %description, "the provider failed the sign-in, as reported through the browser's redirect (unverified)");
            Refusal::ProviderError
        }
        // `access_denied`, OpenID Connect's interaction errors (the user did not sign in,
        // consent or pick an account where no prompt was allowed), and any code we do not
        // know (`invalid_grant` is none a redirect carries): the sign-in ended on the user's
        // side, as a cancellation does.
        ErrorKind::Cancelled | ErrorKind::CodeRejected | ErrorKind::Unknown => {
            tracing::info!(provider, provider_error = %error, provider_error_description = %description, "sign-in cancelled at the provider");
            Refusal::ConsentDenied
        }
    }
}

/// At most 200 characters of `text`, cleaned by [`text::loggable`]: a crafted query must not
/// forge log lines on a terminal or in a pretty log.
fn loggable(text: &str) -> String {
    text::loggable(text, 200)
}

/// Cookie mode's ending: the browser's old session ends, a new one starts.
async fn start_session(
    deps: &Deps<'_>,
    callback: Callback<'_>,
    user: entity::users::Model,
    joined: Joined,
) -> Result<SignedIn, Refusal> {
    let profile = accounts::profile(deps.db, &user)
        .await
        .map_err(|_| Refusal::DatabaseUnavailable)?;

    // No fixation: whatever session this browser had is revoked before a new one starts.
    if let Some(old) = callback.old_session {
        let _ = deps
            .sessions
            .end(old.user_id(), &Revoke::One(old.hash()), Ending::SignedOut)
            .await;
    }
    let started = deps
        .sessions
        .start(
            user.id,
            profile.clone(),
            &callback.client,
            Transport::Cookie,
        )
        .await
        .map_err(|_| Refusal::StoreUnavailable)?;
    settle(deps, user.id, &profile).await?;
    Ok(SignedIn {
        user_id: user.id,
        started,
        joined,
    })
}

/// An operator's `users disable`, `users delete` or `plan set` may commit while this login
/// runs, between our SQL read and the session's creation, and then revoke or refresh before
/// our session exists. Reading the user again once the session exists closes that window:
/// those commands write SQL before they touch Redis, so whatever they did is visible now.
async fn settle(deps: &Deps<'_>, user_id: Uuid, profile: &Profile) -> Result<(), Refusal> {
    let fresh = accounts::users::find_by_id(deps.db, user_id)
        .await
        .map_err(|_| Refusal::DatabaseUnavailable)?;
    // Disabled or erased meanwhile: every session of the user ends, the one just started
    // included, and so does the profile cache its start wrote (an erased user's name and email
    // must not stay in Redis). Either this read sees the change, or it came before it, and
    // then the session existed before the command's sweep of Redis.
    let Some(fresh) = fresh.filter(|u| u.disabled_at.is_none()) else {
        let _ = deps.sessions.end_all(user_id).await;
        return Err(Refusal::AccountDisabled);
    };
    // A plan change that committed meanwhile: the cache gets what SQL now says. A cache that
    // cannot be written is no reason to refuse the login; the next change pushes again.
    match accounts::publish_if_changed(deps.db, deps.sessions, &fresh, profile).await {
        Ok(_) | Err(PublishError::Store(_)) => {}
        Err(PublishError::Db(_)) => return Err(Refusal::DatabaseUnavailable),
    }
    Ok(())
}
