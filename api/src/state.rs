//! What every handler shares.

use flit_engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::ratelimit::RateLimiter;

pub struct AppState {
    pub engine: Engine,
    pub limiter: RateLimiter,
    /// SHA-256 of the admin token (read once at start).
    pub admin_token_hash: [u8; 32],
    /// Renders `/metrics`; `None` when no recorder is installed (in-process tests).
    pub metrics: Option<PrometheusHandle>,
    /// Where phones reach Flit (`devices.public_url`); `None`: the address each phone used.
    pub public_url: Option<String>,
    /// Served over https: the console's cookies are `Secure`.
    pub tls: bool,
    /// Failed console sign-ins, by email and by address, for their rate limit.
    pub sign_ins: crate::console::auth::SignInLimiter,
}
