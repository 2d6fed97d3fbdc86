//! The context of one request's handling: the configuration, the KV namespace, the request
//! as read, the time, and the invocation context for work after the response.

use std::cell::OnceCell;

use worker::{web_sys, Context, Env, KvError, KvStore, Request};

use crate::decide::config::{EdgeConfig, KV_BINDING};
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
///
/// What only some requests need is read from the runtime when first asked for, not up
/// front: the `SESSIONS` binding ([`Cx::kv`]: most requests answered from isolate memory
/// touch no KV) and the URL the worker was reached at ([`Cx::request_origin`]: only a JWKS
/// refresh uses it). Each read crosses into JavaScript.
pub struct Cx<'a> {
    /// The configuration.
    pub config: &'a EdgeConfig,
    /// The request, as read.
    pub info: &'a RequestInfo,
    /// Now, unix seconds.
    pub now: u64,
    /// The invocation context (for writes that need not delay the response).
    pub ctx: &'a Context,
    env: &'a Env,
    kv: OnceCell<KvStore>,
    request: web_sys::Request,
}

impl<'a> Cx<'a> {
    /// The context of one request: what the request and the configuration say, and where to
    /// find the `SESSIONS` binding and the request's URL when needed.
    pub fn new(
        request: &Request,
        env: &'a Env,
        ctx: &'a Context,
        config: &'a EdgeConfig,
        info: &'a RequestInfo,
        now: u64,
    ) -> Self {
        Cx {
            config,
            info,
            now,
            ctx,
            env,
            kv: OnceCell::new(),
            // The handle, not `Request.clone()` (which would copy the request in JavaScript).
            request: Clone::clone(request.inner()),
        }
    }

    /// The `SESSIONS` namespace (looked up on first use; the configuration checked at load
    /// that it exists).
    pub fn kv(&self) -> Result<&KvStore, KvError> {
        if let Some(kv) = self.kv.get() {
            return Ok(kv);
        }
        let kv = KvStore::from_this(self.env, KV_BINDING)?;
        Ok(self.kv.get_or_init(|| kv))
    }

    /// `scheme://host` the worker was reached at (for the Cache API key), when readable.
    pub fn request_origin(&self) -> Option<String> {
        let url = self.request.url();
        split_http_url(&url).map(|(origin, _, _)| origin.to_string())
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
        let kv = match self.kv() {
            Ok(kv) => kv.clone(),
            Err(e) => {
                worker::console_warn!("edgeauth-edge: KV write failed: {e}");
                return;
            }
        };
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
