//! Health endpoints that tell the truth.
//!
//! - `/health/live`: the process runs. No dependency I/O, so a slow database never gets a healthy
//!   process killed.
//! - `/health/ready`: 200 only when the database answers a real query and its schema is current;
//!   503 naming the failing check otherwise. Each check has its own 2 s timeout.
//! - `/health`: the full picture for people and dashboards. It names backends, never addresses or
//!   credentials.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::health::{DependencyReport, DependencyStatus, overall};
use gatehouse_core::store::StoreError;
use http::StatusCode;
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn timed<F>(check: F) -> DependencyReport
where
    F: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(Ok(())) => DependencyReport::ok(latency_ms),
        Ok(Err(detail)) => DependencyReport::down(latency_ms, detail),
        Err(_) => DependencyReport::down(latency_ms, format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    }
}

/// A store error as a short, secret-free sentence for a health report.
fn describe(error: &StoreError) -> String {
    match error {
        StoreError::Unavailable(reason) => format!("unavailable: {reason}"),
        StoreError::Backend(_) => "the database returned an error".to_owned(),
        StoreError::Duplicate { .. } | StoreError::NotFound => "unexpected answer to the check".to_owned(),
    }
}

async fn check_database(state: &AppState) -> DependencyReport {
    timed(async { state.database().ping().await.map_err(|error| describe(&error)) }).await
}

async fn check_migrations(state: &AppState) -> DependencyReport {
    timed(async {
        let status = state.database().schema_status().await.map_err(|error| describe(&error))?;
        if status.is_current() {
            Ok(())
        } else {
            Err(format!("{} migration(s) pending; run `gatehouse migrate`", status.pending.len()))
        }
    })
    .await
}

async fn readiness_checks(state: &AppState) -> BTreeMap<&'static str, DependencyReport> {
    let (database, migrations) = tokio::join!(check_database(state), check_migrations(state));
    BTreeMap::from([("database", database), ("migrations", migrations)])
}

/// `{status}` of liveness.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Live {
    /// Always `ok`: the process answers.
    status: &'static str,
}

/// `GET /health/live`: the process is up. Checks nothing else, so a restart loop never follows a
/// database outage.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, body = Live)))]
pub(crate) async fn live() -> Json<Live> {
    Json(Live { status: "ok" })
}

/// Readiness: `status` is `ready`, with each check.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Ready {
    status: &'static str,
    checks: BTreeMap<&'static str, DependencyReport>,
}

/// `GET /health/ready`: whether this instance can serve (database reachable, migrations applied).
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve.", body = Ready),
        (status = 503, description = "`not_ready`: a required dependency is down; `checks` says which."),
    ),
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let checks = readiness_checks(&state).await;
    let failing: Vec<String> = checks
        .iter()
        .filter(|(_, report)| report.status == DependencyStatus::Down)
        .map(|(name, report)| format!("{name}: {}", report.detail.as_deref().unwrap_or("down")))
        .collect();
    if failing.is_empty() {
        Ok(Json(Ready { status: "ready", checks }))
    } else {
        let checks = serde_json::to_value(&checks).map_err(|error| ApiError::Internal(error.to_string()))?;
        Err(ApiError::NotReady { detail: failing.join("; "), checks })
    }
}

/// Every dependency's state and the overall status.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct HealthView {
    /// The worst of the dependencies' states that matter: `down` only when serving is impossible.
    status: DependencyStatus,
    version: &'static str,
    /// `development` or `production`.
    mode: &'static str,
    uptime_secs: u64,
    dependencies: BTreeMap<&'static str, DependencyView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DependencyView {
    #[serde(flatten)]
    report: DependencyReport,
    /// For the database: `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<&'static str>,
}

/// `GET /health`: every dependency, including the optional ones (Redis, the job queue).
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Serving, perhaps degraded.", body = HealthView),
        (status = 503, description = "Not serving: a required dependency is down.", body = HealthView),
    ),
)]
pub(crate) async fn full(State(state): State<AppState>) -> Response {
    let mut checks = readiness_checks(&state).await;
    for dependency in &state.services().optional_dependencies {
        let report = dependency.check().await;
        checks.insert(dependency.name(), report);
    }
    let status = overall(checks.values());
    let backend = state.database().backend().as_str();
    let dependencies = checks
        .into_iter()
        .map(|(name, report)| {
            let backend = (name == "database").then_some(backend);
            (name, DependencyView { report, backend })
        })
        .collect();
    let view = HealthView {
        status,
        version: state.settings().version,
        mode: state.settings().mode.as_str(),
        uptime_secs: state.uptime().as_secs(),
        dependencies,
    };
    let code = if status == DependencyStatus::Down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (code, Json(view)).into_response()
}
