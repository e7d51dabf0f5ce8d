//! The payload preview of a flow event: parsed JSON when the payload is JSON and fits, else a
//! UTF-8 text preview cut at [`PREVIEW_LIMIT`] bytes (on a character boundary).
//!
//! It is a pure function so the broker's tap and the `>` fallback of the flow tools (which
//! see a real nats-server) show payloads the same way.

use serde_json::Value;

/// Payload bytes a flow event keeps. CF v1 messages (start requests, heartbeats of a busy DEA)
/// are mostly under 4 KiB, so they arrive parsed; bigger ones arrive as a cut text preview.
pub const PREVIEW_LIMIT: usize = 4096;

/// The preview of a payload of `size` bytes of which `kept` are the first
/// `min(size, PREVIEW_LIMIT)`: `(payload, truncated)`.
pub fn preview(kept: &[u8], size: usize) -> (Value, bool) {
    let truncated = size > kept.len() || kept.len() > PREVIEW_LIMIT;
    let kept = &kept[..kept.len().min(PREVIEW_LIMIT)];
    if !truncated {
        if let Ok(json) = serde_json::from_slice::<Value>(kept) {
            return (json, false);
        }
    }
    (Value::String(text(kept, truncated)), truncated)
}

/// Lossy UTF-8; a cut payload loses its last partial character rather than showing `�`.
fn text(bytes: &[u8], truncated: bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(e) if truncated && e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_payloads_are_parsed() {
        let body = br#"{"dea":"0-abc","droplets":[1,2]}"#;
        assert_eq!(
            preview(body, body.len()),
            (json!({"dea": "0-abc", "droplets": [1, 2]}), false)
        );
    }

    #[test]
    fn text_payloads_are_strings() {
        assert_eq!(preview(b"hello", 5), (json!("hello"), false));
        assert_eq!(preview(b"", 0), (json!(""), false));
        assert_eq!(
            preview(b"\xff\xfeok", 4),
            (json!("\u{fffd}\u{fffd}ok"), false)
        );
    }

    #[test]
    fn long_payloads_are_cut_and_not_parsed() {
        let long = format!("[{}1]", "1,".repeat(PREVIEW_LIMIT));
        let (value, truncated) = preview(long.as_bytes(), long.len());
        assert!(truncated);
        assert_eq!(value.as_str().map(str::len), Some(PREVIEW_LIMIT));
        let (kept, cut) = preview(&long.as_bytes()[..10], long.len());
        assert!(cut);
        assert_eq!(kept, json!("[1,1,1,1,1"));
    }

    #[test]
    fn a_cut_character_is_dropped_not_garbled() {
        let s = format!("a{}", "é".repeat(PREVIEW_LIMIT));
        let (value, truncated) = preview(&s.as_bytes()[..PREVIEW_LIMIT], s.len());
        assert!(truncated);
        let text = value.as_str().unwrap();
        assert_eq!(text.len(), PREVIEW_LIMIT - 1);
        assert!(!text.contains('\u{fffd}'));
    }
}
