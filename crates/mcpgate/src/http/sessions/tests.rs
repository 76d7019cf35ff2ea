//! The session table: ownership, caps and places.

use super::*;

fn owner(subject: &str, org: &str, via: AuthVia) -> SessionOwner {
    SessionOwner::from(&Principal::new(subject, org, "editor", via))
}

fn sessions(max_sessions: usize, max_per_principal: usize) -> Sessions {
    Sessions::new(
        SessionLimits {
            max_sessions,
            max_per_principal,
            idle_timeout: Duration::from_secs(300),
            sse_retry: None,
        },
        Gauge::default(),
        &Lifecycle::new(),
    )
}

#[tokio::test]
async fn a_session_answers_only_its_creator() {
    let sessions = sessions(10, 10);
    let alice = owner("alice", "acme", AuthVia::StaticToken);
    let bob = owner("bob", "other", AuthVia::StaticToken);
    let reservation = sessions.reserve(alice.clone()).expect("room");
    let (id, _transport) = SessionCaller::new(alice.clone(), Some(reservation))
        .scope(sessions.create_session())
        .await
        .expect("created");
    assert!(sessions.is_owned_by(&id, &alice));
    assert!(!sessions.is_owned_by(&id, &bob));
    // Same subject and org through another auth mode, or from another issuer: not the owner.
    assert!(!sessions.is_owned_by(&id, &owner("alice", "acme", AuthVia::DevToken)));
    let mut other_issuer = alice.clone();
    other_issuer.issuer = Some("https://elsewhere.test".into());
    assert!(!sessions.is_owned_by(&id, &other_issuer));

    let asks = |who: SessionOwner| {
        let (sessions, id) = (&sessions, id.clone());
        async move {
            SessionCaller::new(who, None)
                .scope(sessions.has_session(&id))
                .await
                .expect("no error")
        }
    };
    assert!(asks(alice.clone()).await);
    assert!(!asks(bob).await);
    // Outside any request nobody owns it.
    assert!(!sessions.has_session(&id).await.expect("no error"));

    sessions.close_session(&id).await.expect("closed");
    assert!(!asks(alice).await);
    assert_eq!(sessions.len(), 0);
}

#[tokio::test]
async fn caps_hold_in_all_and_per_principal_and_places_come_back() {
    let sessions = sessions(3, 2);
    let alice = owner("alice", "acme", AuthVia::Jwt);
    let first = sessions.reserve(alice.clone()).expect("room");
    let _second = sessions.reserve(alice.clone()).expect("room");
    assert_eq!(
        sessions.reserve(alice.clone()).err(),
        Some(SessionsFull::Principal)
    );
    let _bob = sessions
        .reserve(owner("bob", "acme", AuthVia::Jwt))
        .expect("room");
    assert_eq!(
        sessions.reserve(owner("carol", "acme", AuthVia::Jwt)).err(),
        Some(SessionsFull::Server)
    );
    // A reservation that made no session gives its place back.
    drop(first);
    assert_eq!(sessions.len(), 2);
    sessions.reserve(alice).expect("room again");
}

#[tokio::test]
async fn the_default_principal_is_bounded_by_the_total_only() {
    let sessions = sessions(3, 1);
    let anyone = owner("local", "default", AuthVia::Default);
    let held: Vec<_> = (0..3)
        .map(|_| sessions.reserve(anyone.clone()).expect("room"))
        .collect();
    assert_eq!(sessions.reserve(anyone).err(), Some(SessionsFull::Server));
    drop(held);
    assert_eq!(sessions.len(), 0);
}

#[tokio::test]
async fn creating_a_session_needs_a_reservation() {
    let sessions = sessions(3, 3);
    let caller = SessionCaller::new(owner("a", "b", AuthVia::DevToken), None);
    let made = caller.scope(sessions.create_session()).await;
    assert!(matches!(made, Err(SessionsError::NotReserved)));
    assert!(matches!(
        sessions.create_session().await,
        Err(SessionsError::NotReserved)
    ));
}
