//! Property tests of token decoding: whatever a caller puts in `Authorization`, verification
//! ends in an error (none of these tokens is signed by the key), never a panic, and in bounded
//! time: arbitrary text, dot-separated segments of arbitrary bytes, and segments that decode
//! to arbitrary JSON headers and payloads under any `alg`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::json;

use super::{JwtSettings, JwtVerifier};
use crate::props::{config, json_value};

fn verifier() -> JwtVerifier {
    JwtVerifier::new(JwtSettings {
        secret: Some("a-shared-hmac-secret-of-32-bytes-or-more".to_owned()),
        audience: vec!["https://mcp.test/mcp".to_owned()],
        ..JwtSettings::default()
    })
    .expect("secret verifier")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn refused(token: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(verifier().verify(token)).is_err()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_refused(token in any::<String>()) {
        prop_assert!(refused(&token));
    }

    #[test]
    fn any_segments_are_refused(
        segments in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..5),
    ) {
        let token: Vec<String> = segments.iter().map(|s| b64(s)).collect();
        prop_assert!(refused(&token.join(".")));
    }

    #[test]
    fn any_header_and_payload_are_refused(
        alg in prop_oneof![
            Just(json!("HS256")), Just(json!("none")), Just(json!("RS256")),
            Just(json!("ES256")), Just(json!("EdDSA")), json_value(),
        ],
        header in json_value(),
        payload in json_value(),
        signature in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut header = header;
        if let Some(object) = header.as_object_mut() {
            object.insert("alg".to_owned(), alg);
        }
        let token = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes()),
            b64(&signature),
        );
        prop_assert!(refused(&token));
    }
}
