//! Redis connections for the state replicas share (rate limits, legacy sessions): a lazy
//! connection manager that reconnects by itself, with every connect and reply bounded by a
//! timeout, and the password kept out of anything that is logged.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// The shortest timeout accepted; shorter ones are raised to it.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A connection to one Redis server.
#[derive(Clone)]
pub(crate) struct RedisLink {
    /// The client, for connections of their own (subscriptions, blocking reads).
    pub client: redis::Client,
    /// The connection (clone it for each call).
    pub connection: ConnectionManager,
    /// `host:port` (or socket path) for logs: never the credentials.
    pub endpoint: String,
    /// Each call's bound.
    pub timeout: Duration,
    /// The password, scrubbed from any error text that would be logged.
    password: Option<String>,
}

/// Why a link could not be made (credentials already scrubbed).
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The URL does not parse or names an unsupported scheme.
    InvalidUrl(String),
    /// The client could not be created.
    Client(String),
}

impl RedisLink {
    /// A link to `url`. Fails only on a URL that does not parse; an unreachable server is
    /// retried on later calls.
    pub(crate) fn open(url: &str, timeout: Duration) -> Result<RedisLink, LinkError> {
        let client = redis::Client::open(url).map_err(|e| {
            LinkError::InvalidUrl(scrub(e.to_string(), url_password(url).as_deref()))
        })?;
        let info = client.get_connection_info();
        let endpoint = info.addr().to_string();
        let password = info.redis_settings().password().map(str::to_owned);
        let timeout = timeout.max(MIN_TIMEOUT);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| LinkError::Client(scrub(e.to_string(), password.as_deref())))?;
        Ok(RedisLink {
            client,
            connection,
            endpoint,
            timeout,
            password,
        })
    }

    /// `text` with the password replaced.
    pub(crate) fn scrub(&self, text: String) -> String {
        scrub(text, self.password.as_deref())
    }

    /// Run one command on the link, bounded by its timeout; the error is text fit for a log.
    pub(crate) async fn call<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, String> {
        let mut connection = self.connection.clone();
        self.bounded(command.query_async::<T>(&mut connection))
            .await
    }

    /// Run `pipe` on the link in one round trip, bounded like [`Self::call`].
    pub(crate) async fn pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, String> {
        let mut connection = self.connection.clone();
        self.bounded(pipe.query_async::<T>(&mut connection)).await
    }

    /// `answer` (a call on this link), bounded by the link's timeout; the error is text fit
    /// for a log.
    pub(crate) async fn bounded<T>(
        &self,
        answer: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.scrub(e.to_string())),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

/// `text` with `secret` replaced by `***`.
fn scrub(text: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
        _ => text,
    }
}

/// The password part of `scheme://user:password@host...`, if any, as written.
fn url_password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_scrubbed() {
        assert_eq!(
            url_password("redis://user:s3cret@host:6379/0").as_deref(),
            Some("s3cret")
        );
        assert_eq!(url_password("redis://host:6379"), None);
        assert_eq!(
            scrub("auth s3cret failed".to_owned(), Some("s3cret")),
            "auth *** failed"
        );
        assert_eq!(scrub("x".to_owned(), Some("")), "x");
    }
}
