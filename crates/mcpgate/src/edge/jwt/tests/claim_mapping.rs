//! How verified claims become a caller: roles, scopes, org, and the optional issuer and
//! audience.

use super::*;

async fn map_with(
    tune: impl FnOnce(&mut JwtSettings),
    claims: &Value,
) -> Result<VerifiedClaims, JwtError> {
    let mut settings = JwtSettings {
        secret: Some(SECRET.to_owned()),
        ..settings()
    };
    tune(&mut settings);
    let verifier = JwtVerifier::new(settings).expect("verifier");
    verifier
        .verify(&sign(Algorithm::HS256, None, &hs_key(), claims))
        .await
}

#[tokio::test]
async fn roles_keep_only_known_roles_and_default_to_viewer() {
    let roles = |value: Value| with(claims(), "roles", value);
    let cases = [
        (
            roles(json!("admin bogus  editor admin")),
            vec!["admin", "editor"],
        ),
        (roles(json!(["superuser", "root"])), vec!["viewer"]),
        (roles(json!([])), vec!["viewer"]),
        (without(claims(), "roles"), vec!["viewer"]),
        (roles(json!(["viewer", "editor"])), vec!["viewer", "editor"]),
    ];
    for (claims, expected) in cases {
        let verified = map_with(|_| {}, &claims).await.expect("verifies");
        assert_eq!(verified.roles, expected, "{}", claims["roles"]);
    }
    for bad in [json!(7), json!([1, "admin"]), json!({"admin": true})] {
        assert_eq!(
            map_with(|_| {}, &roles(bad)).await,
            Err(JwtError::InvalidClaim("roles".into()))
        );
    }
    let custom = with(without(claims(), "roles"), "groups", json!(["admin"]));
    let verified = map_with(|s| s.roles_claim = "groups".into(), &custom)
        .await
        .expect("verifies");
    assert_eq!(verified.roles, vec!["admin"]);
    let verified = map_with(
        |s| s.default_role = "editor".into(),
        &without(claims(), "roles"),
    )
    .await
    .expect("verifies");
    assert_eq!(verified.roles, vec!["editor"]);
}

#[tokio::test]
async fn scopes_come_from_scope_and_scp() {
    let both = with(
        with(claims(), "scope", json!("c a")),
        "scp",
        json!(["a", "b"]),
    );
    let verified = map_with(|_| {}, &both).await.expect("verifies");
    assert_eq!(verified.scopes, vec!["c", "a", "b"]);
    let scp_text = with(without(claims(), "scope"), "scp", json!("x y"));
    let verified = map_with(|_| {}, &scp_text).await.expect("verifies");
    assert_eq!(verified.scopes, vec!["x", "y"]);
    let none = without(claims(), "scope");
    assert!(
        map_with(|_| {}, &none)
            .await
            .expect("verifies")
            .scopes
            .is_empty()
    );
    let odd = with(claims(), "scp", json!(["ok", "quote\"d", "back\\slash"]));
    let verified = map_with(|_| {}, &odd).await.expect("verifies");
    assert_eq!(verified.scopes, vec!["files:read", "files:write", "ok"]);
    assert_eq!(
        map_with(|_| {}, &with(claims(), "scope", json!(5))).await,
        Err(JwtError::InvalidClaim("scope".into()))
    );
}

#[tokio::test]
async fn org_comes_from_the_configured_claim_or_the_default() {
    let fixed = map_with(
        |s| {
            s.org_claim = String::new();
            s.default_org = "everyone".into();
        },
        &without(claims(), "org"),
    )
    .await
    .expect("verifies");
    assert_eq!(fixed.org, "everyone");
    let namespaced = with(claims(), "https://example.com/tenant", json!("globex"));
    let verified = map_with(
        |s| s.org_claim = "https://example.com/tenant".into(),
        &namespaced,
    )
    .await
    .expect("verifies");
    assert_eq!(verified.org, "globex");
}

#[tokio::test]
async fn issuer_and_audience_are_optional() {
    let bare = without(without(claims(), "iss"), "aud");
    let open = |s: &mut JwtSettings| {
        s.issuer = None;
        s.audience = Vec::new();
    };
    assert!(map_with(open, &bare).await.is_ok());
    // Without a configured audience, a token's `aud` is not held against it.
    assert!(map_with(open, &claims()).await.is_ok());
}
