//! The Dashboard: each queue's counts, and its jobs per minute.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Frame, Pages, Shown, render};
use crate::console::Console;

#[derive(Debug)]
struct QueueRow {
    name: String,
    url: String,
    counts: Result<crate::stats::Stats, String>,
    has_dead_letters: bool,
}

async fn queue_counts(console: &Console) -> Vec<QueueRow> {
    let mut rows = Vec::new();
    for queue in &console.queues {
        let counts = crate::stats::stats(
            &console.clients.sqs,
            &queue.url,
            queue.dead_letters.as_deref(),
        )
        .await
        .map_err(|e| e.to_string());
        rows.push(QueueRow {
            name: queue.name.clone(),
            url: queue.url.clone(),
            counts,
            has_dead_letters: queue.dead_letters.is_some(),
        });
    }
    rows
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    rows: Vec<QueueRow>,
    charts: Charts,
}

pub(super) async fn dashboard(
    State(pages): State<Arc<Pages>>,
    Query(shown): Query<Shown>,
) -> Response {
    let rows = queue_counts(&pages.console).await;
    let page = DashboardPage {
        frame: pages.frame("dashboard", shown.notice.as_deref()),
        rows,
        charts: queue_charts(&pages.console).await,
    };
    render(StatusCode::OK, &page)
}

/// The chart's size, in SVG units: one slot per minute.
const CHART_MINUTES: u64 = 60;
const CHART_SLOT: f64 = 10.0;
const CHART_HEIGHT: f64 = 100.0;

#[derive(Template)]
#[template(path = "charts.html")]
struct Charts {
    namespace: Option<String>,
    charts: Vec<QueueChart>,
}

#[derive(Debug)]
struct QueueChart {
    name: String,
    processed: u64,
    failed: u64,
    bars: Vec<Bar>,
    error: Option<String>,
}

/// One minute's column: processed at the bottom, failed stacked on top.
#[derive(Debug)]
struct Bar {
    x: f64,
    processed_y: f64,
    processed_h: f64,
    failed_y: f64,
    failed_h: f64,
    label: String,
}

fn bars(minutes: &[crate::job_metrics::Minute]) -> Vec<Bar> {
    let highest = minutes
        .iter()
        .map(|m| m.processed + m.failed)
        .fold(1.0, f64::max);
    let scale = (CHART_HEIGHT - 4.0) / highest;
    minutes
        .iter()
        .enumerate()
        .filter(|(_, m)| m.processed + m.failed > 0.0)
        .map(|(i, m)| {
            let processed_h = m.processed * scale;
            let failed_h = m.failed * scale;
            Bar {
                x: i as f64 * CHART_SLOT + 1.0,
                processed_y: CHART_HEIGHT - processed_h,
                processed_h,
                failed_y: CHART_HEIGHT - processed_h - failed_h,
                failed_h,
                label: format!(
                    "{}: {} processed, {} failed",
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.start)
                    ),
                    m.processed,
                    m.failed
                ),
            }
        })
        .collect()
}

async fn queue_charts(console: &Console) -> Charts {
    let mut charts = Vec::new();
    if let Some(namespace) = &console.metrics_namespace {
        for queue in &console.queues {
            let sqs_name = producer::send::queue::queue_name_of(&queue.url);
            let mut chart = QueueChart {
                name: queue.name.clone(),
                processed: 0,
                failed: 0,
                bars: Vec::new(),
                error: None,
            };
            match crate::job_metrics::per_minute(
                &console.clients.cloudwatch,
                namespace,
                sqs_name,
                CHART_MINUTES,
                std::time::SystemTime::now(),
            )
            .await
            {
                Ok(minutes) => {
                    chart.processed = minutes.iter().map(|m| m.processed).sum::<f64>() as u64;
                    chart.failed = minutes.iter().map(|m| m.failed).sum::<f64>() as u64;
                    chart.bars = bars(&minutes);
                }
                Err(e) => chart.error = Some(e.to_string()),
            }
            charts.push(chart);
        }
    }
    Charts {
        namespace: console.metrics_namespace.clone(),
        charts,
    }
}

pub(super) async fn charts(State(pages): State<Arc<Pages>>) -> Response {
    render(StatusCode::OK, &queue_charts(&pages.console).await)
}

#[derive(Template)]
#[template(path = "queue_rows.html")]
struct QueueRows {
    rows: Vec<QueueRow>,
}

pub(super) async fn queue_rows(State(pages): State<Arc<Pages>>) -> Response {
    let rows = queue_counts(&pages.console).await;
    render(StatusCode::OK, &QueueRows { rows })
}
