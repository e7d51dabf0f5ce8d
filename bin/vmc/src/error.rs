//! Errors of the client and the CLI. A cloud controller error (`{"code","description"}`)
//! prints as one line, `Error 301: App not found`, as vmc v1 printed it.

use std::path::PathBuf;

/// Everything that can go wrong talking to the cloud controller or running a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CC answered with its error body.
    #[error("Error {code}: {description}")]
    Cloud {
        /// The v1 error code (301 = app not found, ...).
        code: i64,
        /// Its text.
        description: String,
        /// The HTTP status it came with.
        status: u16,
    },
    /// The CC answered with an unexpected status and no error body.
    #[error("Unexpected response {status} from {url}: {body}")]
    Unexpected {
        status: u16,
        url: String,
        body: String,
    },
    /// The request could not be sent or its answer read.
    #[error("Cannot reach {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A body could not be decoded.
    #[error("Unexpected reply from {url}: {source}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// No target is set.
    #[error("No target set; run `vmc target URL` first")]
    NoTarget,
    /// No token for the target.
    #[error("Not logged in to {0}; run `vmc login` first")]
    NotLoggedIn(String),
    /// The config file could not be read or written.
    #[error("Config file {path}: {message}")]
    Config { path: PathBuf, message: String },
    /// The app directory could not be packed.
    #[error("Cannot pack {path}: {message}")]
    Pack { path: PathBuf, message: String },
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The app did not start.
    #[error("{0}")]
    StartFailed(String),
}

impl Error {
    /// The v1 error code, when the CC sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Cloud { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether this is the CC's "app not found" (301).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(301)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_errors_print_as_one_line() {
        let e = Error::Cloud {
            code: 301,
            description: "App not found".into(),
            status: 404,
        };
        assert_eq!(e.to_string(), "Error 301: App not found");
        assert!(e.is_not_found());
    }
}
