//! Wiring: turns a [`Config`] into a running Gatehouse, and runs it until shutdown.
//!
//! [`build`] connects the database, applies migrations, resolves the master secret and assembles
//! the routers. [`serve`] takes already-bound listeners and a shutdown future, so tests bind port 0
//! and drive a real server, and `main` passes the OS signals.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use gatehouse_core::clock::{Clock, SystemClock};
use gatehouse_core::csrf::CsrfKey;
use gatehouse_core::email::LinkKey;
use gatehouse_core::health::{DependencyCheck, NotConfigured};
use gatehouse_core::mode::RunMode;
use gatehouse_core::oauth::{ProviderClient, ProviderName};
use gatehouse_core::sealing::{KeyEncryption, Keyring, SIGNING_KEY_PURPOSE, WEBHOOK_SECRET_PURPOSE};
use gatehouse_core::secret::MasterSecret;
use gatehouse_core::sessions::{SessionPolicy, SessionStore};
use gatehouse_core::store::load_or_store_instance_secret;
use gatehouse_core::vault::Vault;
use gatehouse_http::email::EmailSettings;
use gatehouse_http::forward_auth::ForwardAuthSettings;
use gatehouse_http::oauth::OAuthSettings;
use gatehouse_http::pages::{Branding, PageSettings};
use gatehouse_http::password::PasswordService;
use gatehouse_http::rate_limit::RateLimitSettings;
use gatehouse_http::tokens::TokenService;
use gatehouse_http::vault::VaultSettings;
use gatehouse_http::webhooks::WebhookSettings;
use gatehouse_http::{AppState, CookieSettings, HttpSettings, Services};
use gatehouse_store::api_key_cache::CachedApiKeys;
use gatehouse_store::coherence::{Coherence, CoherenceSettings, LocalSessionCache};
use gatehouse_store::rate_limiter::RateLimiter;
use gatehouse_store::redis::{Redis, RedisSettings};
use gatehouse_store::session_cache::CachedSessionStore;
use gatehouse_store::{Database, PoolOptions};
use http::HeaderValue;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::email::EmailDelivery;
use crate::email::requests::LinkRequests;
use crate::email::templates::Templates;
use crate::oauth::revoke::RevokeHandler;
use crate::oauth::{HttpProvider, OAuthCheck};
use crate::queue::QueueCheck;
use crate::telemetry;
use crate::webhooks::{DeliveryHandler, FanOutHandler, SenderSettings};
use crate::worker::{Worker, WorkerSettings};

/// Name under which the generated development master secret is kept in the database.
pub const DEVELOPMENT_SECRET_NAME: &str = "development_master_secret";

/// Last-seen and the sliding expiry of a session are written at most this often.
const SESSION_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// How long closing the database pool may take at shutdown before we stop waiting.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub database: Database,
    pub master_secret: MasterSecret,
    /// The master secret and, during a rotation, the previous one.
    pub keyring: Keyring,
    /// The shared handler state, for tests that mount extra routes with `gatehouse_http::with_layers`.
    pub state: AppState,
    pub router: Router,
    /// The `/metrics` router when `server.metrics_listen` is set.
    pub metrics_router: Option<Router>,
    /// The job worker, unless `jobs.enabled` is off; [`serve`] runs it.
    pub worker: Option<Worker>,
    /// The queue's health and gauges.
    pub queue: QueueCheck,
    /// The sign-in providers, which [`serve`] keeps discovering until each answers.
    pub oauth: OAuthCheck,
    /// The reader of the session invalidation log, running for as long as the app lives.
    pub coherence: Option<CoherenceTask>,
}

/// Reads the session invalidation log in the background (every poll interval, and on each
/// PostgreSQL notification) until dropped.
#[derive(Debug)]
pub struct CoherenceTask {
    pub coherence: Arc<Coherence>,
    task: tokio::task::JoinHandle<()>,
}

impl CoherenceTask {
    fn start(coherence: Arc<Coherence>, database: Database) -> Self {
        let reader = coherence.clone();
        let task = tokio::spawn(async move {
            let wake = tokio::sync::Notify::new();
            let listening = |connected: bool| reader.set_listening(connected);
            tokio::join!(reader.run(&wake), database.wake_on_session_changes(&wake, &listening));
        });
        Self { coherence, task }
    }
}

impl Drop for CoherenceTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn pool_options(config: &Config) -> PoolOptions {
    PoolOptions {
        max_connections: config.database.max_connections,
        min_connections: config.database.min_connections,
        acquire_timeout: config.database.acquire_timeout,
    }
}

pub async fn connect(config: &Config) -> anyhow::Result<Database> {
    let url = gatehouse_core::redact::redact_url_password(&config.database.url);
    Database::connect(&config.database.url, &pool_options(config))
        .await
        .with_context(|| format!("cannot connect to the database at {url}"))
}

pub async fn build(config: Config) -> anyhow::Result<App> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

/// [`build`] with a chosen clock, so tests can move time instead of sleeping.
pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    crate::cli::install_tls_provider();
    let database = connect(&config).await?;
    if config.database.migrate_on_start {
        database.migrate().await.context("applying database migrations")?;
    } else {
        let status = database.probe().schema_status().await.context("reading the schema version")?;
        anyhow::ensure!(
            status.is_current(),
            "the database schema is {} migration(s) behind this binary; run `gatehouse migrate` first",
            status.pending.len()
        );
    }
    let master_secret = master_secret(&config, &database).await?;
    let keyring = Keyring::new(master_secret.clone(), config.master_secret_previous.clone());
    let signing_store = database.signing_keys();
    let encryption = KeyEncryption::for_purpose(&keyring, SIGNING_KEY_PURPOSE);
    crate::keys::ensure_active(signing_store.as_ref(), &encryption, config.tokens.algorithm).await?;
    let tokens = TokenService::load(
        signing_store,
        encryption,
        config.tokens.access_ttl,
        config.tokens.issuer.clone(),
        config.tokens.audience.clone(),
    )
    .await
    .context("loading access-token signing keys")?;

    let handle = telemetry::prometheus();
    let probe = database.probe();
    let renderer = Arc::new(telemetry::PrometheusRenderer::new(handle, probe.clone()));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let passwords =
        PasswordService::new(config.password, cores, config.password_queue).context("setting up password hashing")?;
    let redis_client = match &config.redis {
        Some(redis) => Some(
            Redis::connect(&RedisSettings {
                url: redis.url.clone(),
                key_prefix: redis.key_prefix.clone(),
                timeout: redis.timeout,
                cluster: redis.cluster,
                tls_ca_pem: redis.tls_ca_pem.clone(),
            })
            .context("configuring Redis")?,
        ),
        None => None,
    };
    let coherence = (redis_client.is_some() || config.session.local_cache_entries > 0).then(|| {
        Arc::new(Coherence::new(
            database.invalidation_log(),
            redis_client.clone(),
            CoherenceSettings {
                poll_interval: config.session.invalidation_poll,
                local_ttl: config.session.local_cache_ttl,
                local_entries: config.session.local_cache_entries,
                longest_copy: config.redis.as_ref().map_or(Duration::ZERO, |redis| redis.session_cache_ttl),
                stale_after: (config.session.invalidation_poll * 10).max(Duration::from_secs(1)),
                when_unreadable: config.session.when_log_unreadable,
            },
        ))
    });
    let (mut sessions, redis_check): (Arc<dyn SessionStore>, Arc<dyn DependencyCheck>) =
        match (&config.redis, &redis_client, &coherence) {
            (Some(redis), Some(client), Some(coherence)) => {
                let cached = CachedSessionStore::new(
                    database.sessions(),
                    client.clone(),
                    redis.session_cache_ttl,
                    coherence.clone(),
                );
                (Arc::new(cached), Arc::new(client.clone()))
            }
            _ => (database.sessions(), Arc::new(NotConfigured("redis"))),
        };
    if let Some(coherence) = &coherence
        && config.session.local_cache_entries > 0
    {
        sessions = Arc::new(LocalSessionCache::new(sessions, coherence.clone()));
    }
    let coherence = match coherence {
        Some(coherence) => {
            // Read once before the first request, so the caches serve from the start.
            if let Err(error) = coherence.catch_up().await {
                tracing::warn!(%error, "cannot read the session invalidation log yet; sessions come from SQL until it can be");
            }
            Some(CoherenceTask::start(coherence, database.clone()))
        }
        None => None,
    };
    let session_cache_check: Arc<dyn DependencyCheck> = match &coherence {
        Some(task) => task.coherence.clone(),
        None => Arc::new(NotConfigured("session_cache")),
    };
    let limiter =
        RateLimiter::new(redis_client, config.rate_limit.max_local_keys, config.rate_limit.failure_mode, clock.clone());
    let api_key_cache_ttl = time::Duration::try_from(config.api_key_cache_ttl).context("api_keys.cache_ttl_secs")?;
    let api_keys = Arc::new(CachedApiKeys::new(database.api_keys(), clock.clone(), api_key_cache_ttl));
    let queue = QueueCheck { store: database.jobs(), clock: clock.clone() };
    let link_key = LinkKey::new(&master_secret);
    let templates = Templates::load(config.email.templates_dir.as_deref()).context("loading the email templates")?;
    let mailer = crate::email::providers::from_config(&config.email).context("setting up the email provider")?;
    let delivery = EmailDelivery::new(mailer, templates, link_key.clone(), config.email.clone(), clock.clone());
    let worker_settings = WorkerSettings {
        concurrency: config.jobs.concurrency,
        lease: config.jobs.lease,
        poll_interval: config.jobs.poll_interval,
        shutdown_timeout: config.server.shutdown_timeout,
    };
    let sealing = Arc::new(KeyEncryption::for_purpose(&keyring, WEBHOOK_SECRET_PURPOSE));
    let sender = SenderSettings {
        timeout: config.webhooks.timeout,
        schedule: config.webhooks.schedule.clone(),
        allow_private: config.webhooks.allow_private_destinations,
        disable_after: config.webhooks.disable_after,
    };
    let deliveries = DeliveryHandler::new(database.webhooks(), clock.clone(), sealing.clone(), sender)?;
    let worker = Worker::new(database.jobs(), clock.clone(), worker_settings);
    let fan_out = FanOutHandler { store: database.webhooks(), clock: clock.clone(), wake: worker.waker() };
    let link_requests = LinkRequests {
        accounts: database.accounts(),
        links: database.links(),
        link_key: link_key.clone(),
        lifetimes: config.email.link_lifetimes,
        clock: clock.clone(),
        wake: worker.waker(),
    };
    let http_providers = config
        .oauth_providers
        .iter()
        .map(|provider| HttpProvider::new(provider.clone(), clock.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let providers: Arc<std::collections::BTreeMap<ProviderName, Arc<dyn ProviderClient>>> = Arc::new(
        http_providers
            .iter()
            .map(|provider| (provider.info().name.clone(), provider.clone() as Arc<dyn ProviderClient>))
            .collect(),
    );
    let oauth_check = OAuthCheck { providers: http_providers };
    let vault = Arc::new(Vault::new(&keyring));
    let revocations = RevokeHandler { store: database.vault(), vault: vault.clone(), providers: providers.clone() };
    let notices = crate::email::NoticeDelivery(delivery.clone());
    let worker =
        worker.with(delivery).with(notices).with(link_requests).with(fan_out).with(deliveries).with(revocations);
    let oauth = OAuthSettings {
        providers,
        states: database.oauth_states(),
        identities: database.identities(),
        allowlist: config.server.redirect_allowlist.clone(),
        public_url: config.public_url.as_str().trim_end_matches('/').to_owned(),
    };
    let secrets_check = crate::secrets::SecretsCheck::new(database.sealed_values(), keyring.clone());
    let webhooks =
        WebhookSettings { store: database.webhooks(), sealing, rotation_grace: config.webhooks.rotation_grace };
    let email = EmailSettings {
        link_key,
        require_verified: config.email.require_verified,
        lifetimes: config.email.link_lifetimes,
        new_device_notice: config.email.new_device_notice,
    };
    let breached = match &config.breached {
        crate::config::BreachedConfig::Off => gatehouse_http::breached::BreachedCheck::off(),
        crate::config::BreachedConfig::Api { url, timeout } => gatehouse_http::breached::BreachedCheck::new(
            Arc::new(crate::breached::RangeApi::new(url.clone(), *timeout)?),
            "api",
        ),
        crate::config::BreachedConfig::File(path) => gatehouse_http::breached::BreachedCheck::new(
            Arc::new(crate::breached::CorpusFile::new(path.clone())),
            "file",
        ),
    };
    let pages = if config.pages.enabled {
        let branding = Branding {
            product_name: config.email.app_name.clone(),
            logo_url: config.pages.logo_url.clone(),
            accent_color: config.pages.accent_color.clone(),
            support_email: config.pages.support_email.clone(),
        };
        let overrides = crate::config::pages::read_overrides(config.pages.templates_dir.as_deref())?;
        // Forms may lead to an allowlisted app, or back to a host forward-auth protects.
        let mut form_targets = oauth.allowlist.origins();
        form_targets.extend(config.forward_auth.rules.csp_sources());
        let loaded = PageSettings::load(branding, overrides, &form_targets)
            .context("loading the page templates (pages.templates_dir)")?;
        Some(Arc::new(loaded))
    } else {
        None
    };
    let services = Services {
        database: probe,
        optional_dependencies: vec![
            redis_check,
            session_cache_check,
            Arc::new(limiter.clone()),
            Arc::new(queue.clone()),
            Arc::new(oauth_check.clone()),
            Arc::new(secrets_check),
            Arc::new(passwords.clone()),
            Arc::new(breached.clone()),
        ],
        accounts: database.accounts(),
        profiles: database.profiles(),
        devices: database.devices(),
        breached,
        links: database.links(),
        jobs: database.jobs(),
        email,
        webhooks,
        oauth,
        vault: VaultSettings::new(database.vault(), vault),
        forward_auth: ForwardAuthSettings {
            rules: config.forward_auth.rules.clone(),
            user_header: config.forward_auth.user_header.clone(),
            email_header: config.forward_auth.email_header.clone(),
            name_header: config.forward_auth.name_header.clone(),
            session_header: config.forward_auth.session_header.clone(),
            groups_header: config.forward_auth.groups_header.clone(),
            workspace_header: config.forward_auth.workspace_header.clone(),
            denials_logged: Arc::default(),
        },
        pages,
        jobs_waker: worker.waker(),
        sessions,
        workspaces: database.workspaces(),
        privacy: database.privacy(),
        user_admin: database.user_admin(),
        audit_query: database.audit_query(),
        tombstones: gatehouse_core::privacy::TombstoneKey::new(&master_secret),
        audit: database.audit(),
        clock,
        passwords,
        mfa: gatehouse_http::mfa::MfaSettings {
            store: database.mfa(),
            sealing: Arc::new(KeyEncryption::for_purpose(&keyring, gatehouse_core::mfa::TOTP_PURPOSE)),
            issuer: config.email.app_name.clone(),
            passkeys: match &config.passkeys.relying_party {
                Ok(rp) => gatehouse_http::passkeys::RelyingParty::new(&rp.id, rp.origins.clone()).map(Arc::new),
                Err(reason) => Err(reason.clone()),
            },
        },
        tokens,
        api_keys,
        limiter: Arc::new(limiter),
        csrf: CsrfKey::new(&master_secret),
        rate_limits: RateLimitSettings {
            enabled: config.rate_limit.enabled,
            policies: config.rate_limit.policies.clone(),
        },
        metrics: renderer,
    };
    let settings = HttpSettings {
        mode: config.mode,
        version: env!("CARGO_PKG_VERSION"),
        body_limit_bytes: config.server.body_limit_bytes,
        request_timeout: config.server.request_timeout,
        cors_allowed_origins: config
            .server
            .cors_allowed_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect(),
        trusted_proxies: config.server.trusted_proxies.clone(),
        metrics_on_main_listener: config.server.metrics_listen.is_none(),
        trusted_origins: std::iter::once(config.public_url.origin().ascii_serialization())
            .chain(config.server.cors_allowed_origins.iter().cloned())
            .collect(),
    };
    let session_policy = SessionPolicy {
        idle_timeout: config.session.idle_timeout,
        absolute_lifetime: config.session.absolute_lifetime,
        touch_interval: SESSION_TOUCH_INTERVAL,
        binding: config.session.binding,
        reauth_window: config.session.reauth_window,
    };
    let cookie = CookieSettings {
        name: config.session.cookie_name.clone(),
        secure: config.cookies.secure,
        domain: config.cookies.domain.clone(),
    };
    let state = AppState::new(settings, session_policy, cookie, services);
    let router = gatehouse_http::router(state.clone());
    let metrics_router = config.server.metrics_listen.map(|_| gatehouse_http::metrics_router(state.clone()));
    let worker = config.jobs.enabled.then_some(worker);
    Ok(App {
        config,
        database,
        master_secret,
        keyring,
        state,
        router,
        metrics_router,
        worker,
        queue,
        oauth: oauth_check,
        coherence,
    })
}

/// The configured master secret, or in development a generated one kept in the database so that
/// restarts do not invalidate what it signed.
pub async fn master_secret(config: &Config, database: &Database) -> anyhow::Result<MasterSecret> {
    let store = database.instance_secrets();
    if let Some(secret) = &config.master_secret {
        if config.mode == RunMode::Production {
            let generated = store.instance_secret(DEVELOPMENT_SECRET_NAME).await?;
            anyhow::ensure!(
                generated.as_deref() != Some(secret.expose_bytes()),
                "GATEHOUSE_MASTER_SECRET is the development secret Gatehouse generated; production needs a new one"
            );
        }
        return Ok(secret.clone());
    }
    let mut fresh = vec![0_u8; 32];
    getrandom::fill(&mut fresh).map_err(|error| anyhow::anyhow!("the OS random source failed: {error}"))?;
    let bytes = load_or_store_instance_secret(store.as_ref(), DEVELOPMENT_SECRET_NAME, fresh).await?;
    tracing::warn!(
        "using a generated development master secret kept in the database; set GATEHOUSE_MASTER_SECRET before production"
    );
    MasterSecret::from_bytes(bytes).context("the stored development master secret is unusable")
}

/// Bound listeners for [`serve`].
#[derive(Debug)]
pub struct Listeners {
    pub main: TcpListener,
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let main = crate::server::bind(config.server.listen)
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let metrics = match config.server.metrics_listen {
            Some(addr) => Some(crate::server::bind(addr).with_context(|| format!("cannot listen on {addr}"))?),
            None => None,
        };
        Ok(Self { main, metrics })
    }
}

/// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish within
/// `server.shutdown_timeout`, stops background work and closes the database pool.
pub async fn serve(app: App, listeners: Listeners, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let key_refresh_tokens = app.state.services().tokens.clone();
    let app_clock = app.state.services().clock.clone();
    // `_coherence` keeps the invalidation log's reader running until the pool closes.
    let App { config, database, router, metrics_router, worker, queue, oauth, coherence: _coherence, .. } = app;
    let main_addr = listeners.main.local_addr()?;
    let metrics_addr = listeners.metrics.as_ref().map(TcpListener::local_addr).transpose()?;
    let (stop_tx, stop_rx) = watch::channel(false);

    let upkeep = tokio::spawn(telemetry::metrics_upkeep(telemetry::prometheus(), stop_rx.clone()));
    let key_refresh = tokio::spawn(refresh_signing_keys(key_refresh_tokens, stop_rx.clone()));
    let discovery = tokio::spawn(oauth.keep_discovering(stop_rx.clone()));
    // On shutdown the worker stops claiming, lets running jobs finish within the shutdown timeout
    // and gives the rest back, alongside the HTTP servers draining their requests.
    // Instances that run the worker also export the queue's gauges (they are figures of the
    // whole queue, so one instance's are as good as another's).
    let queue_gauges = worker.is_some().then(|| tokio::spawn(crate::queue::gauges(queue, stop_rx.clone())));
    let housekeeping = worker.is_some().then(|| {
        let (store, audit, clock) = (database.housekeeping(), database.audit_query(), app_clock.clone());
        let retention = crate::housekeeping::Retention { jobs: config.jobs.retention, audit: config.audit_retention };
        tokio::spawn(crate::housekeeping::run(store, audit, clock, retention, stop_rx.clone()))
    });
    let worker = worker.map(|worker| run_worker(worker, database.clone(), stop_rx.clone()));
    let file_limit = crate::server::raise_file_limit();
    let limits = crate::server::ConnectionLimits {
        max_connections: crate::server::main_connection_cap(
            config.server.max_connections,
            file_limit,
            listeners.metrics.is_some(),
        ),
        header_read_timeout: config.server.header_read_timeout,
        keep_alive_timeout: config.server.keep_alive_timeout,
        max_header_bytes: config.server.max_header_bytes,
    };
    tracing::debug!(max_connections = limits.max_connections, open_file_limit = ?file_limit, "connection limits");
    let main = crate::server::serve("main", listeners.main, router, limits, stop_rx.clone());
    let metrics = async {
        if let (Some(listener), Some(router)) = (listeners.metrics, metrics_router) {
            let limits =
                crate::server::ConnectionLimits { max_connections: crate::server::METRICS_MAX_CONNECTIONS, ..limits };
            crate::server::serve("metrics", listener, router, limits, stop_rx.clone()).await;
        }
    };
    // The listeners cannot fail once bound; they return when `stop` turns true and every
    // connection has closed.
    let servers = async {
        tokio::join!(main, metrics);
    };
    tokio::pin!(servers);

    tracing::info!(
        listen = %main_addr,
        public_url = config.public_url.as_str().trim_end_matches('/'),
        mode = config.mode.as_str(),
        database = database.backend().as_str(),
        metrics = %metrics_addr.map_or_else(|| "/metrics on the main listener".to_owned(), |addr| format!("http://{addr}/metrics")),
        "gatehouse listening on http://{main_addr} ({} mode, {} database, {})",
        config.mode.as_str(),
        database.backend().as_str(),
        if config.redis.is_some() { "Redis fast path" } else { "no Redis" },
    );

    tokio::select! {
        () = &mut servers => {}
        () = shutdown => {
            tracing::info!(timeout_secs = config.server.shutdown_timeout.as_secs(), "shutdown requested; finishing in-flight requests");
            let _ = stop_tx.send(true);
            if tokio::time::timeout(config.server.shutdown_timeout, &mut servers).await.is_err() {
                tracing::warn!("in-flight requests did not finish within the shutdown timeout; exiting anyway");
            }
        }
    }
    let _ = stop_tx.send(true);
    let _ = upkeep.await;
    let _ = key_refresh.await;
    let _ = discovery.await;
    for task in [queue_gauges, housekeeping].into_iter().flatten() {
        let _ = task.await;
    }
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, database.close()).await.is_err() {
        tracing::warn!("database connections were still in use at exit");
    }
    tracing::info!("gatehouse stopped");
    Ok(())
}

/// Runs the job worker until `stop`, woken by this instance's requests and, on PostgreSQL, by
/// every instance's enqueues (`LISTEN`), with its poll as the safety net.
pub fn run_worker(worker: Worker, database: Database, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let wake = worker.waker();
    let listen_stop = stop.clone();
    tokio::spawn(async move {
        let listen = async move {
            tokio::select! {
                () = database.wake_on_new_jobs(&wake) => {}
                () = stopped(listen_stop) => {}
            }
        };
        tokio::join!(worker.run(stop), listen);
    })
}

/// How often every instance re-reads the signing keys, so a rotation reaches all of them.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

async fn refresh_signing_keys(tokens: TokenService, stop: watch::Receiver<bool>) {
    // The keys were loaded at start, so the first reload is one interval away.
    let first = tokio::time::Instant::now() + KEY_REFRESH_INTERVAL;
    let tokens = &tokens;
    on_each_tick(tokio::time::interval_at(first, KEY_REFRESH_INTERVAL), stop, move || async move {
        if let Err(error) = tokens.reload().await {
            tracing::warn!(%error, "could not reload signing keys; keeping the current ones");
        }
    })
    .await;
}

/// Runs `task` on every tick of `ticks` until `stop` turns true; a running task is not cut off.
pub(crate) async fn on_each_tick<Task: Future>(
    mut ticks: tokio::time::Interval,
    stop: watch::Receiver<bool>,
    mut task: impl FnMut() -> Task,
) {
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                task().await;
            }
            () = &mut stop => return,
        }
    }
}

pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
