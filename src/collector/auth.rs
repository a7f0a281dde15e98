//! HTTP basic authentication against the `[[user]]` entries (Argon2 PHC
//! hashes). The dashboard and API sit behind it; the ingest endpoint does
//! not (it accepts only signed reports). For the ministry's SSO, see
//! `docs/collector.md`.
//!
//! A browser sends the same `Authorization` on every request, and each
//! Argon2 verification costs tens of milliseconds: [`LoginCache`] keeps
//! successful logins for [`LOGIN_TTL`], keyed on a salted hash of the
//! exact name and password (never the password itself). Failures are
//! never cached.

use std::time::{Duration, Instant};

use argon2::PasswordVerifier;
use base64::Engine;

use crate::config::collector::User;

/// The `WWW-Authenticate` challenge of a 401.
pub const CHALLENGE: &str = "Basic realm=\"ward collector\", charset=\"UTF-8\"";

/// Whether an `Authorization` header names a user with the right
/// password. Costs one Argon2 verification (tens of milliseconds) when the
/// user exists: call it off the async threads.
pub fn authorized(header: Option<&[u8]>, users: &[User]) -> bool {
    let Some((name, password)) = header.and_then(credentials) else {
        return false;
    };
    verify(&name, &password, users)
}

/// One Argon2 verification of `name`'s password.
fn verify(name: &str, password: &str, users: &[User]) -> bool {
    let Some(user) = users.iter().find(|u| u.name == name) else {
        return false;
    };
    // The hash was checked when the config was loaded.
    let Ok(hash) = argon2::PasswordHash::new(&user.password_hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// How long a successful login is remembered.
pub const LOGIN_TTL: Duration = Duration::from_secs(60);
/// How many distinct logins are remembered (least recently used first out).
pub const LOGIN_CACHE_SIZE: usize = 1024;

/// Successful logins of the last [`LOGIN_TTL`].
pub struct LoginCache {
    /// SHA-256(salt, name, 0, password) → when it stops counting.
    cache: quick_cache::sync::Cache<[u8; 32], Instant>,
    /// Per process: the keys in memory are no offline oracle for guesses.
    salt: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for LoginCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCache")
            .field("len", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl Default for LoginCache {
    fn default() -> Self {
        Self::new(LOGIN_CACHE_SIZE, LOGIN_TTL)
    }
}

impl LoginCache {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let mut salt = [0u8; 32];
        // Without OS randomness the salt stays zero: the cache still works,
        // its keys are merely unsalted hashes.
        let _ = getrandom::fill(&mut salt);
        Self {
            cache: quick_cache::sync::Cache::new(capacity.max(1)),
            salt,
            ttl,
        }
    }

    /// Entries held now (at most the capacity).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    fn key(&self, name: &str, password: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.salt);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// [`authorized`], remembering a success until `now` + the TTL.
    pub fn authorized(&self, header: Option<&[u8]>, users: &[User], now: Instant) -> bool {
        self.check(header, now, |name, password| verify(name, password, users))
    }

    /// The cache around `verify` (which the tests count).
    fn check(
        &self,
        header: Option<&[u8]>,
        now: Instant,
        verify: impl FnOnce(&str, &str) -> bool,
    ) -> bool {
        let Some((name, password)) = header.and_then(credentials) else {
            return false;
        };
        let key = self.key(&name, &password);
        if self.cache.get(&key).is_some_and(|until| now < until) {
            return true;
        }
        let ok = verify(&name, &password);
        if ok {
            self.cache.insert(key, now + self.ttl);
        } else {
            self.cache.remove(&key);
        }
        ok
    }
}

/// `Basic base64(name:password)` → (name, password).
fn credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher;

    use super::*;

    fn users() -> Vec<User> {
        let hash = argon2::Argon2::default()
            .hash_password_with_salt(b"demo", b"0123456789abcdef")
            .unwrap()
            .to_string();
        vec![User {
            name: "demo".into(),
            password_hash: hash,
        }]
    }

    fn basic(text: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(text)
        )
        .into_bytes()
    }

    #[test]
    fn only_the_right_name_and_password_pass() {
        let users = users();
        assert!(authorized(Some(&basic("demo:demo")), &users));
        assert!(authorized(Some(b"basic ZGVtbzpkZW1v"), &users));
        assert!(!authorized(Some(&basic("demo:wrong")), &users));
        assert!(!authorized(Some(&basic("other:demo")), &users));
        assert!(!authorized(Some(&basic("demo")), &users));
        assert!(!authorized(Some(b"Bearer x"), &users));
        assert!(!authorized(Some(b"Basic !!!"), &users));
        assert!(!authorized(Some(&[0xff, 0xfe]), &users));
        assert!(!authorized(None, &users));
        assert!(!authorized(Some(&basic("demo:demo")), &[]));
    }

    #[test]
    fn the_cache_remembers_successes_for_the_ttl_and_never_failures() {
        let cache = LoginCache::new(4, Duration::from_secs(60));
        let t0 = Instant::now();
        let calls = std::cell::Cell::new(0);
        let verify = |name: &str, password: &str| {
            calls.set(calls.get() + 1);
            name == "demo" && password == "demo"
        };
        let good = basic("demo:demo");
        assert!(cache.check(Some(&good), t0, verify));
        assert_eq!(calls.get(), 1);
        // Within the TTL: no verification.
        assert!(cache.check(Some(&good), t0 + Duration::from_secs(59), verify));
        assert_eq!(calls.get(), 1);
        // The same credentials spelt differently are the same key.
        assert!(cache.check(Some(b"basic ZGVtbzpkZW1v"), t0, verify));
        assert_eq!(calls.get(), 1);
        // Past the TTL: verified again.
        assert!(cache.check(Some(&good), t0 + Duration::from_secs(60), verify));
        assert_eq!(calls.get(), 2);
        // A wrong password is verified every time, never remembered.
        for i in 0..3 {
            assert!(!cache.check(Some(&basic("demo:wrong")), t0, verify));
            assert_eq!(calls.get(), 3 + i);
        }
        // A different password of the same user is not a hit.
        assert!(!cache.check(Some(&basic("demo:demo2")), t0, verify));
        assert_eq!(calls.get(), 6);
        // Garbage is refused before any verification.
        assert!(!cache.check(Some(b"Bearer x"), t0, verify));
        assert!(!cache.check(None, t0, verify));
        assert_eq!(calls.get(), 6);
        // Bounded: many distinct successes keep at most the capacity.
        for i in 0..100 {
            let h = basic(&format!("u{i}:p"));
            assert!(cache.check(Some(&h), t0, |_, _| true));
        }
        assert!(cache.len() <= 4 + 1, "{}", cache.len());
    }

    #[test]
    fn the_cache_checks_real_argon2_hashes() {
        let users = users();
        let cache = LoginCache::default();
        let now = Instant::now();
        assert!(cache.authorized(Some(&basic("demo:demo")), &users, now));
        assert!(cache.authorized(Some(&basic("demo:demo")), &users, now));
        assert!(!cache.authorized(Some(&basic("demo:x")), &users, now));
        assert_eq!(cache.len(), 1);
    }
}
