//! HTTP basic authentication against the `[[user]]` entries (Argon2 PHC
//! hashes). The dashboard and API sit behind it; the ingest endpoint does
//! not (it accepts only signed reports). For the ministry's SSO, see
//! `docs/collector.md`.

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
}
