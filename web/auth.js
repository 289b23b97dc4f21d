// Signing in: the OAuth 2.0 authorization code grant with PKCE (RFC 7636, S256), against
// the user pool's domain when deployed (Cognito's hosted login) and the local gateway's
// stand-in under `make run`; `config.auth` says where. The access token (scope
// `billing/contractor`) is kept in this tab's sessionStorage only, until it expires.

const TOKEN_KEY = "leadManager.accessToken";
const PENDING_KEY = "leadManager.signIn";
// A token this close to its expiry is not used any more.
const EXPIRY_MARGIN_MS = 30_000;

export class SignInError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

/** Where the sign-in returns: this page, without its query. */
export function redirectUri() {
  return `${location.origin}${location.pathname}`;
}

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes) {
  const values = new Uint8Array(bytes);
  crypto.getRandomValues(values);
  return base64url(values);
}

async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Go to the sign-in page; it comes back to this page with `?code=...&state=...`. */
export async function startSignIn(auth) {
  const verifier = randomString(48); // 64 characters, within RFC 7636's 43..128
  const state = randomString(16);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier }));
  const url = new URL(auth.authorize_url, location.href);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: auth.client_id,
    redirect_uri: redirectUri(),
    scope: auth.scope,
    state,
    code_challenge: await s256(verifier),
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/**
 * When the page is the sign-in's redirect, redeem its code for an access token; true if it
 * was one. The code and state leave the address bar first, whatever happens next.
 */
export async function finishSignIn(auth) {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (!code && !error) return false;
  history.replaceState(null, "", redirectUri());
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  if (error) throw new SignInError(error);
  if (!pending || pending.state !== params.get("state")) throw new SignInError("state_mismatch");
  const response = await fetch(new URL(auth.token_url, location.href), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: auth.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.access_token !== "string") {
    throw new SignInError(body.error || `http_${response.status}`);
  }
  const expiresIn = Number.isInteger(body.expires_in) ? body.expires_in : 3600;
  sessionStorage.setItem(
    TOKEN_KEY,
    JSON.stringify({ token: body.access_token, expiresAt: Date.now() + expiresIn * 1000 }),
  );
  return true;
}

/** The access token, while it is valid; null otherwise. */
export function accessToken() {
  const kept = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
  if (!kept || typeof kept.token !== "string" || kept.expiresAt - EXPIRY_MARGIN_MS < Date.now()) {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  return kept.token;
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}
