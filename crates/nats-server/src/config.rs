//! TEMPORARY stand-in: replaced by the nats-server config-file reader.
use crate::options::Options;
pub fn apply_file(_opts: &mut Options, path: &std::path::Path) -> Result<(), String> {
    Err(format!(
        "{}: config files not yet supported",
        path.display()
    ))
}
