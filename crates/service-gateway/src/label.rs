//! Offering labels, `<name>-<version>` (`mysql-5.1`), split at the last `-` as v1's
//! `Api::Util.parse_label` did. A provision request must carry the gateway's own label
//! (same name and version), else it is refused 400 / 30002 "Unknown label".

use crate::error::ApiError;

/// A parsed label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Service name (`mysql`).
    pub name: String,
    /// Service version (`5.1`).
    pub version: String,
}

impl Label {
    /// Parses `<name>-<version>`; anything else is 400 / 30002.
    pub fn parse(label: &str) -> Result<Label, ApiError> {
        match label.rsplit_once('-') {
            Some((name, version)) if !name.is_empty() && !version.is_empty() => Ok(Label {
                name: name.to_owned(),
                version: version.to_owned(),
            }),
            _ => Err(ApiError::UnknownLabel),
        }
    }

    /// Accepts `label` only if it names this same service and version.
    pub fn check(&self, label: &str) -> Result<(), ApiError> {
        if Label::parse(label)? == *self {
            Ok(())
        } else {
            Err(ApiError::UnknownLabel)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_split_at_the_last_dash() {
        let l = Label::parse("mysql-5.1").unwrap();
        assert_eq!((l.name.as_str(), l.version.as_str()), ("mysql", "5.1"));
        let l = Label::parse("my-sql-5.5").unwrap();
        assert_eq!((l.name.as_str(), l.version.as_str()), ("my-sql", "5.5"));
    }

    #[test]
    fn malformed_labels_are_unknown() {
        for bad in ["mysql", "", "-5.1", "mysql-"] {
            assert_eq!(Label::parse(bad), Err(ApiError::UnknownLabel), "{bad}");
        }
    }

    #[test]
    fn only_the_gateways_own_label_is_accepted() {
        let own = Label::parse("mysql-5.1").unwrap();
        assert_eq!(own.check("mysql-5.1"), Ok(()));
        assert_eq!(own.check("mysql-5.5"), Err(ApiError::UnknownLabel));
        assert_eq!(own.check("postgresql-5.1"), Err(ApiError::UnknownLabel));
        assert_eq!(own.check("mysql"), Err(ApiError::UnknownLabel));
    }
}
