//! What a provider's OAuth 2 `error` code means: one table for the two places a provider
//! sends one, the redirect back to the callback (RFC 6749 4.1.2.1) and the token endpoint's
//! answer (5.2), so that the same code is read the same way wherever it comes from.

/// What an `error` code says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The sign-in ended on the user's side: `access_denied`, or OpenID Connect's interaction
    /// errors (`login_required`, `consent_required`, `interaction_required`,
    /// `account_selection_required`: the user did not sign in, consent or pick an account
    /// where no prompt was allowed).
    Cancelled,
    /// The provider failed: `server_error`, `temporarily_unavailable`.
    ProviderFailed,
    /// The authorization code was refused: `invalid_grant`, GitHub's `bad_verification_code`.
    CodeRejected,
    /// The provider refused latchkey's request for how latchkey is registered with it.
    Misconfigured(Misconfiguration),
    /// A code we do not know, or a value that is no code at all.
    Unknown,
}

/// Reads `error`. A value with a character RFC 6749 does not allow in an error code
/// (`%x20-21 / %x23-5B / %x5D-7E`) is [`ErrorKind::Unknown`], whatever it resembles.
pub fn classify(error: &str) -> ErrorKind {
    if !is_error_code(error) {
        return ErrorKind::Unknown;
    }
    if let Some(what) = Misconfiguration::from_error(error) {
        return ErrorKind::Misconfigured(what);
    }
    match error {
        "access_denied"
        | "login_required"
        | "consent_required"
        | "interaction_required"
        | "account_selection_required" => ErrorKind::Cancelled,
        "server_error" | "temporarily_unavailable" => ErrorKind::ProviderFailed,
        "invalid_grant" | "bad_verification_code" => ErrorKind::CodeRejected,
        _ => ErrorKind::Unknown,
    }
}

/// Whether `error` is made of the characters RFC 6749 allows in an error code.
fn is_error_code(error: &str) -> bool {
    !error.is_empty()
        && error
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// What a provider's `error` says is wrong with latchkey's registration at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misconfiguration {
    /// `redirect_uri_mismatch` (Google, GitHub): `{public_url}/auth/{provider}/callback` is not
    /// among the OAuth client's registered redirect URIs.
    RedirectUri,
    /// `invalid_client`, `unauthorized_client` (RFC 6749), `incorrect_client_credentials`
    /// (GitHub), `deleted_client` (Google), `application_suspended` (GitHub): the client id or
    /// secret is wrong, the client is gone, or it may not use the authorization code flow.
    Client,
    /// `invalid_scope`, `invalid_request`, `unsupported_response_type`,
    /// `unsupported_grant_type` (RFC 6749), and OpenID Connect's request errors: the request
    /// latchkey built is one the provider does not take.
    Other,
}

impl Misconfiguration {
    /// The configuration error a provider's `error` names; `None` for every other code (a
    /// cancellation, the provider's own failure, a refused code, or one we do not know),
    /// which is no reason to tell anyone that the configuration is wrong.
    fn from_error(error: &str) -> Option<Self> {
        match error {
            "redirect_uri_mismatch" => Some(Self::RedirectUri),
            "invalid_client"
            | "unauthorized_client"
            | "incorrect_client_credentials"
            | "deleted_client"
            | "application_suspended" => Some(Self::Client),
            "invalid_scope"
            | "invalid_request"
            | "unsupported_response_type"
            | "unsupported_grant_type"
            | "invalid_request_uri"
            | "invalid_request_object"
            | "request_not_supported"
            | "request_uri_not_supported"
            | "registration_not_supported" => Some(Self::Other),
            _ => None,
        }
    }

    /// For the person in the sign-in tab: most often the developer trying their extension.
    pub fn message(self) -> &'static str {
        match self {
            Self::RedirectUri => "The sign-in provider refused this server's redirect URI: it is not registered for the OAuth client latchkey uses. This is a configuration error, not yours: whoever runs this server must add the redirect URI below to the OAuth client at the provider (or fix server.public_url).",
            Self::Client => "The sign-in provider does not accept the OAuth client latchkey uses (wrong client id or secret, a deleted or suspended client, or one not allowed this kind of sign-in). This is a configuration error, not yours: whoever runs this server must check the provider's client id and secret in latchkey's configuration.",
            Self::Other => "The sign-in provider refused the sign-in request as latchkey is configured. This is a configuration error, not yours: whoever runs this server will find the provider's reason in latchkey's log.",
        }
    }

    /// For the operator reading the log.
    pub fn fix(self) -> &'static str {
        match self {
            Self::RedirectUri => "register {server.public_url}/auth/<provider>/callback as a redirect URI of the OAuth client at the provider, or correct server.public_url",
            Self::Client => "check providers.<provider>.client_id and client_secret against the OAuth client at the provider, and that the client is a web application allowed the authorization code flow",
            Self::Other => "compare providers.<provider> with the OAuth client at the provider; the provider's error and description say what it refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_reads_every_code_the_same_way() {
        assert_eq!(classify("access_denied"), ErrorKind::Cancelled);
        assert_eq!(classify("login_required"), ErrorKind::Cancelled);
        assert_eq!(
            classify("temporarily_unavailable"),
            ErrorKind::ProviderFailed
        );
        assert_eq!(classify("bad_verification_code"), ErrorKind::CodeRejected);
        for code in [
            "deleted_client",
            "application_suspended",
            "incorrect_client_credentials",
        ] {
            assert_eq!(
                classify(code),
                ErrorKind::Misconfigured(Misconfiguration::Client),
                "{code}"
            );
        }
        assert_eq!(
            classify("redirect_uri_mismatch"),
            ErrorKind::Misconfigured(Misconfiguration::RedirectUri)
        );
        assert_eq!(classify("no_such_code"), ErrorKind::Unknown);
        assert_eq!(classify("invalid_client\n"), ErrorKind::Unknown);
        assert_eq!(classify("\"invalid_client\""), ErrorKind::Unknown);
        assert_eq!(classify(""), ErrorKind::Unknown);
    }
}
