//! The context of one request's handling: the configuration, the KV namespace, the request
//! as read, the time, and the invocation context for work after the response.

use worker::{Context, Env, KvStore, Request};

use crate::decide::config::{EdgeConfig, KV_BINDING};
use crate::decide::error::EdgeError;
use crate::decide::route::{query_of, split_http_url, RequestInfo};
use crate::runtime::origin_client::OriginClient;

/// The parts of the request every decision uses.
pub fn request_info(request: &Request) -> RequestInfo {
    let header = |name: &str| request.headers().get(name).ok().flatten();
    let url = request.inner().url();
    RequestInfo::new(
        &request.inner().method(),
        &request.path(),
        query_of(&url),
        header("accept").as_deref(),
        header("access-control-request-method").is_some(),
        header("cf-connecting-ip").as_deref(),
    )
}

/// Everything a request's handling needs from the runtime.
pub struct Cx<'a> {
    /// The configuration.
    pub config: &'a EdgeConfig,
    /// The `SESSIONS` namespace.
    pub kv: KvStore,
    /// The request, as read.
    pub info: &'a RequestInfo,
    /// Now, unix seconds.
    pub now: u64,
    /// `scheme://host` the worker was reached at (for the Cache API key), when readable.
    pub request_origin: Option<String>,
    /// The invocation context (for writes that need not delay the response).
    pub ctx: &'a Context,
}

impl<'a> Cx<'a> {
    /// The context of one request: the `SESSIONS` binding, `scheme://host` the worker was
    /// reached at, and what the request and the configuration say.
    pub fn new(
        request: &Request,
        env: &Env,
        ctx: &'a Context,
        config: &'a EdgeConfig,
        info: &'a RequestInfo,
        now: u64,
    ) -> Result<Self, EdgeError> {
        let kv = env
            .kv(KV_BINDING)
            .map_err(|e| EdgeError::Internal(format!("KV binding: {e}")))?;
        let url = request.inner().url();
        let request_origin = split_http_url(&url).map(|(origin, _, _)| origin.to_string());
        Ok(Cx {
            config,
            kv,
            info,
            now,
            request_origin,
            ctx,
        })
    }

    /// A client for the origin, on behalf of this request.
    pub fn origin(&self) -> OriginClient<'_> {
        OriginClient {
            origin_url: &self.config.origin_url,
            edge_secret: &self.config.edge_secret,
            client_ip: self.info.client_ip.as_deref(),
            timeout: std::time::Duration::from_secs(self.config.origin_timeout),
        }
    }

    /// Writes to KV after the response, logging failures (caches only: losing one costs an
    /// origin call later, nothing more).
    pub fn write_later(&self, key: String, value: String, ttl: u64) {
        let kv = self.kv.clone();
        self.ctx.wait_until(async move {
            let put = match kv.put(&key, value) {
                Ok(put) => put.expiration_ttl(ttl).execute().await,
                Err(e) => Err(e),
            };
            if let Err(e) = put {
                worker::console_warn!("edgeauth-edge: KV write failed: {e}");
            }
        });
    }
}
