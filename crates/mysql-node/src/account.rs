//! Names and secrets the node generates, as v1's MySQL node did: a database `d` + a uuid
//! without dashes, a user `u` + 12 random `[A-Za-z0-9]`, a password `p` + 12 more.
//!
//! SQL cannot bind identifiers (database and user names) as parameters, and MySQL's DDL takes
//! passwords only as literals, so every name and secret that reaches SQL must be "safe":
//! non-empty and made of `[A-Za-z0-9]` only. Generated ones are safe by construction;
//! names taken from a request (recovery credentials, unbind) are checked with [`is_safe`]
//! before use.

use cfsim_messages::Credentials;
use rand::distr::Alphanumeric;
use rand::Rng;

/// Length of the random part of a user or password (v1 `generate_credential`).
pub const RANDOM_LEN: usize = 12;

/// One database user: which database, which user, which password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The database (the instance name).
    pub database: String,
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl Account {
    /// A new instance: a fresh database name, user and password.
    pub fn generate_instance() -> Account {
        Account::generate_user(&database_name())
    }

    /// A new user with a fresh password on `database`.
    pub fn generate_user(database: &str) -> Account {
        Account {
            database: database.to_owned(),
            user: format!("u{}", random_alnum(RANDOM_LEN)),
            password: format!("p{}", random_alnum(RANDOM_LEN)),
        }
    }

    /// The account given in recovery credentials (`name`, `user`, `password`), if all three
    /// are present and safe.
    pub fn from_credentials(credentials: &Credentials) -> Option<Account> {
        let user = credentials
            .user
            .as_ref()
            .or(credentials.username.as_ref())?;
        let account = Account {
            database: credentials.name.clone(),
            user: user.clone(),
            password: credentials.password.clone()?,
        };
        account.is_safe().then_some(account)
    }

    /// Whether every part may be spliced into SQL.
    pub fn is_safe(&self) -> bool {
        is_safe(&self.database) && is_safe(&self.user) && is_safe(&self.password)
    }
}

/// A database name: `d` + a v4 uuid without dashes (33 characters, lower-case hex).
pub fn database_name() -> String {
    format!("d{}", uuid::Uuid::new_v4().simple())
}

/// `len` random characters from `[A-Za-z0-9]`.
pub fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Non-empty, at most 64 characters, `[A-Za-z0-9]` only: safe to quote into SQL.
pub fn is_safe(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The user named in binding credentials (`user`, else `username`).
pub fn user_of(credentials: &Credentials) -> Option<&str> {
    credentials
        .user
        .as_deref()
        .or(credentials.username.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_have_v1s_shape() {
        for _ in 0..200 {
            let a = Account::generate_instance();
            assert_eq!(a.database.len(), 33);
            assert!(a.database.starts_with('d'));
            assert!(a.database[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert_eq!(a.user.len(), 1 + RANDOM_LEN);
            assert!(a.user.starts_with('u'));
            assert_eq!(a.password.len(), 1 + RANDOM_LEN);
            assert!(a.password.starts_with('p'));
            assert!(a.is_safe());
        }
    }

    #[test]
    fn generated_users_differ() {
        let a = Account::generate_user("d1");
        let b = Account::generate_user("d1");
        assert_ne!(a.user, b.user);
        assert_ne!(a.password, b.password);
        assert_eq!(a.database, "d1");
    }

    #[test]
    fn only_alphanumerics_are_safe() {
        assert!(is_safe("uAbc123"));
        for bad in ["", "a b", "a'b", "a`b", "a;b", "a-b", "é", &"a".repeat(65)] {
            assert!(!is_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn recovery_credentials_must_be_complete_and_safe() {
        let mut c = Credentials {
            name: "d1".into(),
            username: Some("u1".into()),
            password: Some("p1".into()),
            ..Default::default()
        };
        let a = Account::from_credentials(&c).unwrap();
        assert_eq!((a.user.as_str(), a.password.as_str()), ("u1", "p1"));
        c.password = Some("x'; DROP DATABASE mysql; --".into());
        assert_eq!(Account::from_credentials(&c), None);
        c.password = None;
        assert_eq!(Account::from_credentials(&c), None);
    }
}
