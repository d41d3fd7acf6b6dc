#!/bin/sh
# A sign-in without a browser, against `make demo` (or any latchkey whose providers approve at
# once): the calls the example extension makes in token mode, with curl. Prints each step and
# ends with the signed-in user's info.
#
#   scripts/demo-curl.sh [BASE_URL] [PROVIDER]     # defaults: http://localhost:8080 google
#
# Needs curl and openssl.
set -eu
BASE=${1:-http://localhost:8080}
PROVIDER=${2:-google}

say() { printf '\n$ %s\n' "$*" >&2; }

# 1. A PKCE pair: the verifier stays here, its SHA-256 goes to latchkey.
VERIFIER=$(openssl rand -hex 32)
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -binary -sha256 | openssl base64 -A | tr '+/' '-_' | tr -d '=')
REDIRECT="$BASE/auth/complete"

# 2. Where to sign in (what the popup asks for).
say curl -s "$BASE/auth/$PROVIDER/login?mode=token&redirect_uri=$REDIRECT&code_challenge=$CHALLENGE&code_challenge_method=S256"
LOGIN=$(curl -sS -G "$BASE/auth/$PROVIDER/login" \
  --data-urlencode mode=token --data-urlencode "redirect_uri=$REDIRECT" \
  --data-urlencode "code_challenge=$CHALLENGE" --data-urlencode code_challenge_method=S256)
echo "$LOGIN" >&2
AUTH_URL=$(printf %s "$LOGIN" | sed -n 's/.*"authUrl":"\([^"]*\)".*/\1/p')
[ -n "$AUTH_URL" ] || { echo "no authUrl in the answer" >&2; exit 1; }

# 3. The sign-in tab: the fake provider approves, latchkey's callback sends it to
#    /auth/complete with a one-time code.
say curl -sL -o /dev/null -w '%{url_effective}' "\$authUrl"
LANDED=$(curl -sSL -o /dev/null -w '%{url_effective}' "$AUTH_URL")
echo "$LANDED" >&2
CODE=$(printf %s "$LANDED" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[ -n "$CODE" ] || { echo "the sign-in did not end with a code: $LANDED" >&2; exit 1; }

# 4. The code and the verifier for a session token.
say curl -s -X POST "$BASE/auth/token" -H 'content-type: application/json' -d '{"code":"…","code_verifier":"…"}'
TOKEN_ANSWER=$(curl -sS -X POST "$BASE/auth/token" -H 'content-type: application/json' \
  -d "{\"code\":\"$CODE\",\"code_verifier\":\"$VERIFIER\"}")
TOKEN=$(printf %s "$TOKEN_ANSWER" | sed -n 's/.*"session_token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || { echo "no session token: $TOKEN_ANSWER" >&2; exit 1; }
echo '{"success":true,"session_token":"…","token_type":"Bearer",…}' >&2

# 5. Signed in.
say curl -s -H "Authorization: Bearer \$TOKEN" "$BASE/api/user/info"
curl -sS -H "Authorization: Bearer $TOKEN" "$BASE/api/user/info"
echo
