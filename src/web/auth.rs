//! Sign-in, sessions and CSRF for the review page.
//!
//! A reviewer signs in with their token (`POST /login`); the server answers with
//! a random 256-bit session id in an `HttpOnly; SameSite=Strict` cookie. Sessions
//! live in memory: a restart signs everyone out, which is acceptable for a small
//! internal page and keeps tokens out of the database. Each session has its own
//! random CSRF token, embedded in every form and checked on every POST (403 when
//! missing or wrong), in addition to SameSite. Token and CSRF comparisons are
//! constant-time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

use super::config::{Account, Role};

/// Name of the session cookie.
pub const COOKIE: &str = "dw_session";

/// Most sessions kept at once; the oldest go first past it.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account name, recorded as `decided_by`.
    pub name: String,
    pub role: Role,
    /// Must come back in the `csrf` field of every POST.
    pub csrf: String,
    expires: Instant,
    flash: Option<String>,
}

impl Session {
    pub fn can_decide(&self) -> bool {
        self.role == Role::Reviewer
    }
}

/// Accounts and the live sessions.
#[derive(Debug)]
pub struct Auth {
    accounts: Vec<Account>,
    sessions: Mutex<HashMap<String, Session>>,
    ttl: Duration,
    secure_cookie: bool,
}

/// Constant-time equality: the time taken does not depend on where they differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Auth {
    /// [`same_origin`] under this page's scheme (`https` with secure cookies).
    pub fn same_origin(&self, headers: &HeaderMap) -> bool {
        same_origin(headers, if self.secure_cookie { "https" } else { "http" })
    }

    pub fn new(accounts: Vec<Account>, ttl: Duration, secure_cookie: bool) -> Auth {
        Auth {
            accounts,
            sessions: Mutex::new(HashMap::new()),
            ttl,
            secure_cookie,
        }
    }

    pub fn enabled(&self) -> bool {
        !self.accounts.is_empty()
    }

    /// The account holding `token`. Every account is compared, so the time taken
    /// does not tell which (or whether one) matched.
    pub fn account_for(&self, token: &str) -> Option<&Account> {
        let token = token.trim();
        let mut found = None;
        for a in &self.accounts {
            if ct_eq(token, &a.token) && found.is_none() {
                found = Some(a);
            }
        }
        found
    }

    /// Starts a session for `account`; returns its id (the cookie value).
    pub fn start(&self, account: &Account) -> (String, Session) {
        let id = random_hex();
        let s = Session {
            name: account.name.clone(),
            role: account.role,
            csrf: random_hex(),
            expires: Instant::now() + self.ttl,
            flash: None,
        };
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), s.clone());
        (id, s)
    }

    /// The live session the request's cookie names.
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends the request's session.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            map.remove(id);
        }
    }

    /// Keeps a one-time message for the request's session (shown on the next page).
    pub fn set_flash(&self, headers: &HeaderMap, msg: String) {
        if let Some(id) = cookie(headers, COOKIE) {
            let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = map.get_mut(id) {
                s.flash = Some(msg);
            }
        }
    }

    /// Takes the request's session's one-time message.
    pub fn take_flash(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, COOKIE)?;
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(id).and_then(|s| s.flash.take())
    }

    /// `Set-Cookie` value for a new session.
    pub fn set_cookie(&self, id: &str) -> String {
        format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
            self.ttl.as_secs(),
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }

    /// `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a POST's `Origin` (when the browser sends one) is this host under
/// `scheme` (`https` when the page is served behind TLS, i.e. with secure
/// cookies; `http` otherwise): a second line of defence behind the CSRF token
/// and SameSite.
pub fn same_origin(headers: &HeaderMap, scheme: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix(scheme)
        .and_then(|o| o.strip_prefix("://"))
        .is_some_and(|o| o == host)
}

/// A path to send the browser back to after an action: only local absolute
/// paths (no scheme, no `//host`), else `default`.
pub fn local_path<'a>(next: Option<&'a str>, default: &'a str) -> &'a str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control()) =>
        {
            p
        }
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn auth() -> Auth {
        Auth::new(
            vec![
                Account {
                    name: "alice".into(),
                    role: Role::Reviewer,
                    token: "alice-token-0123456789".into(),
                },
                Account {
                    name: "vic".into(),
                    role: Role::Viewer,
                    token: "viewer-token-0123456789".into(),
                },
            ],
            Duration::from_secs(3600),
            false,
        )
    }

    #[test]
    fn tokens_map_to_their_account() {
        let a = auth();
        assert_eq!(
            a.account_for("alice-token-0123456789").unwrap().name,
            "alice"
        );
        assert_eq!(
            a.account_for(" viewer-token-0123456789\n").unwrap().role,
            Role::Viewer
        );
        assert!(a.account_for("alice-token-012345678").is_none());
        assert!(a.account_for("").is_none());
    }

    #[test]
    fn sessions_come_back_by_cookie_and_end() {
        let a = auth();
        let acc = a.account_for("alice-token-0123456789").unwrap().clone();
        let (id, s) = a.start(&acc);
        assert_eq!(id.len(), 64);
        assert_ne!(s.csrf, id);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={id}")).unwrap(),
        );
        assert_eq!(a.session(&h).unwrap().name, "alice");
        assert!(a.set_cookie(&id).contains("HttpOnly; SameSite=Strict"));
        a.end(&h);
        assert!(a.session(&h).is_none());
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/review?job=a"), "/"), "/review?job=a");
        assert_eq!(local_path(Some("//evil.example/x"), "/"), "/");
        assert_eq!(local_path(Some("https://evil.example"), "/"), "/");
        assert_eq!(local_path(Some("/\\evil"), "/"), "/");
        assert_eq!(local_path(None, "/review"), "/review");
    }

    #[test]
    fn origin_must_match_scheme_and_host_when_sent() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "http"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h, "http"));
        assert!(!same_origin(&h, "https"), "the scheme counts");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h, "http"));
    }
}
