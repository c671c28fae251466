//! The request gate in front of every service: the per-client rate limit, the bearer token
//! check, and the status code of oversized messages.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tower::{Layer, Service};

/// Path prefix of the standard health service.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// Shared state of the gate.
#[derive(Debug)]
pub(crate) struct Gate {
    /// The whole expected header value, `Bearer <token>`.
    expected: Vec<u8>,
    guard_health: bool,
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    rejected_auth: AtomicU64,
    rejected_rate: AtomicU64,
}

impl Gate {
    /// Builds a gate for `token`; `rate` is (requests per second, burst), or `None` for no
    /// rate limit.
    pub(crate) fn new(token: &[u8], guard_health: bool, rate: Option<(u32, u32)>) -> Self {
        let mut expected = b"Bearer ".to_vec();
        expected.extend_from_slice(token);
        let limiter = rate.and_then(|(per_second, burst)| {
            let quota = Quota::per_second(NonZeroU32::new(per_second)?)
                .allow_burst(NonZeroU32::new(burst)?);
            Some(RateLimiter::keyed(quota))
        });
        Gate {
            expected,
            guard_health,
            limiter,
            rejected_auth: AtomicU64::new(0),
            rejected_rate: AtomicU64::new(0),
        }
    }

    /// Takes one request from `peer`'s rate budget.
    ///
    /// # Errors
    ///
    /// `RESOURCE_EXHAUSTED` when the client is over its rate.
    pub(crate) fn take_rate(&self, peer: Option<IpAddr>) -> Result<(), Status> {
        let (Some(limiter), Some(ip)) = (&self.limiter, peer) else {
            return Ok(());
        };
        if limiter.check_key(&ip).is_ok() {
            return Ok(());
        }
        let n = self.rejected_rate.fetch_add(1, Ordering::Relaxed) + 1;
        if worth_logging(n) {
            tracing::warn!(peer = %ip, rejected_total = n, "request rejected: client over its rate limit");
        }
        Err(Status::resource_exhausted(
            "limit rate_per_second: too many requests from this client; retry later",
        ))
    }

    /// Checks the `authorization` header in constant time.
    ///
    /// The comparison leaks only whether the lengths differ, which reveals the token's length
    /// at most.
    fn check_token(
        &self,
        header: Option<&[u8]>,
        peer: Option<IpAddr>,
        path: &str,
    ) -> Result<(), Status> {
        let ok = header.is_some_and(|h| bool::from(h.ct_eq(&self.expected)));
        if ok {
            return Ok(());
        }
        let n = self.rejected_auth.fetch_add(1, Ordering::Relaxed) + 1;
        if worth_logging(n) {
            let peer = peer
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "unknown".into());
            tracing::warn!(
                %peer,
                method = path,
                header_present = header.is_some(),
                rejected_total = n,
                "request rejected: missing or invalid bearer token"
            );
        }
        Err(Status::unauthenticated(
            "missing or invalid bearer token; send `authorization: Bearer <token>`",
        ))
    }

    /// Drops the rate-limiter state of clients that are back to a full bucket.
    pub(crate) fn forget_idle_clients(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Logs the 1st, 2nd, 4th, 8th, ... repeat of a rejection, then every 1,024th, so a flood of
/// bad requests cannot flood the log.
fn worth_logging(n: u64) -> bool {
    n.is_power_of_two() || n.is_multiple_of(1024)
}

/// Returns the client IP address of a request, with or without TLS.
pub(crate) fn peer_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    let addr: Option<SocketAddr> = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        });
    addr.map(|a| a.ip())
}

/// Tower layer that puts a [`Gate`] in front of a service.
#[derive(Debug, Clone)]
pub(crate) struct GateLayer(pub(crate) Arc<Gate>);

impl<S> Layer<S> for GateLayer {
    type Service = GateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GateService {
            gate: self.0.clone(),
            inner,
        }
    }
}

/// The gated service; see [`GateLayer`].
#[derive(Debug, Clone)]
pub(crate) struct GateService<S> {
    gate: Arc<Gate>,
    inner: S,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GateService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The clone is not ready yet, so the ready one is used and the clone is left behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let peer = peer_ip(request.extensions());
        let path = request.uri().path();
        let verdict = gate.take_rate(peer).and_then(|()| {
            if path.starts_with(HEALTH_PREFIX) && !gate.guard_health {
                return Ok(());
            }
            let header = request.headers().get(http::header::AUTHORIZATION);
            gate.check_token(header.map(|h| h.as_bytes()), peer, path)
        });
        if let Err(status) = verdict {
            return Box::pin(async move { Ok(status.into_http()) });
        }
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            oversize_as_exhausted(&mut response);
            Ok(response)
        })
    }
}

/// Rewrites tonic's status for an oversized request message from OUT_OF_RANGE to
/// RESOURCE_EXHAUSTED, the code the gRPC status code definitions give for a message above the
/// size limit. No handler of this crate returns OUT_OF_RANGE, so the decoder's size check is
/// its only source.
fn oversize_as_exhausted<B>(response: &mut http::Response<B>) {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return;
    };
    if status.code() != Code::OutOfRange {
        return;
    }
    let replaced =
        Status::resource_exhausted(format!("limit max_message_bytes: {}", status.message()));
    // OK to ignore: the header values come from a status message that tonic itself encoded.
    let _ = replaced.add_header(response.headers_mut());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_check_accepts_only_exact_header() {
        let gate = Gate::new(b"s3cret-token-0123456789", false, None);
        assert!(
            gate.check_token(Some(b"Bearer s3cret-token-0123456789"), None, "/x")
                .is_ok()
        );
        for bad in [
            &b"Bearer s3cret-token-012345678"[..],
            b"Bearer s3cret-token-01234567890",
            b"bearer s3cret-token-0123456789",
            b"s3cret-token-0123456789",
            b"",
        ] {
            let status = gate.check_token(Some(bad), None, "/x").unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated);
        }
        assert!(gate.check_token(None, None, "/x").is_err());
    }

    #[test]
    fn rate_limit_rejects_after_burst() {
        let gate = Gate::new(b"t", false, Some((1, 3)));
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(gate.take_rate(Some(ip)).is_ok());
        }
        let status = gate.take_rate(Some(ip)).unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let other: IpAddr = [127, 0, 0, 2].into();
        assert!(gate.take_rate(Some(other)).is_ok());
    }

    #[test]
    fn rejections_log_sparsely() {
        let logged: Vec<u64> = (1..=5000).filter(|&n| worth_logging(n)).collect();
        assert_eq!(&logged[..5], &[1, 2, 4, 8, 16]);
        assert!(logged.len() < 25, "{}", logged.len());
    }

    #[test]
    fn out_of_range_becomes_resource_exhausted() {
        let mut response: http::Response<()> =
            Status::out_of_range("decoded message length too large").into_http();
        oversize_as_exhausted(&mut response);
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("max_message_bytes"));
    }
}
