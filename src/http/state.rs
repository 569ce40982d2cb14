//! What every handler can reach, and the shape of a route.

use std::sync::Arc;

use crate::Db;
use axum::routing::MethodRouter;
use metrics_exporter_prometheus::PrometheusHandle;

use super::event_hub::Hub;
use super::tokens::Tokens;
use crate::compute::ComputePool;
use crate::config::Limits;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: Db,
    pub limits: Arc<Limits>,
    pub tokens: Arc<Tokens>,
    pub metrics: PrometheusHandle,
    /// Where predict scores rows (bounded, off the async runtime).
    pub predict_pool: ComputePool,
    /// The pollers behind `/events` streams, one per watched job.
    pub events: Arc<Hub>,
}

/// A route: its path pattern and what each method does there.
pub type Route = (&'static str, MethodRouter<AppState>);
