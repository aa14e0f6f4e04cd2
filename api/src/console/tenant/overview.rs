//! The overview: balance, sends and delivery rate over the last day and month as charts
//! (SVG drawn here), the tenant's phones and SMPP binds in a line each.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::console::auth::TenantViewer;
use crate::console::page::{Chrome, Problem, render, thousands};
use crate::state::AppState;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A bar chart of sends with the delivery rate of each span.
pub struct Chart {
    pub title: &'static str,
    pub bars: Vec<Bar>,
    pub total: String,
    pub rate: String,
}

pub struct Bar {
    pub x: u32,
    pub height: u32,
    pub y: u32,
    pub label: String,
    /// Delivered of the recipients that are final, as a y coordinate of the rate line; `None`
    /// when none of the span's recipients is final yet (no point is drawn).
    pub rate_y: Option<u32>,
}

/// Height and width of a chart's drawing area, in SVG units.
const CHART_HEIGHT: u32 = 120;
const BAR_WIDTH: u32 = 10;

fn chart(
    title: &'static str,
    buckets: &[flit_engine::SendBucket],
    label: impl Fn(i64) -> String,
) -> Chart {
    let peak = buckets
        .iter()
        .map(|b| b.recipients)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = buckets
        .iter()
        .enumerate()
        .map(|(i, bucket)| {
            let height = (bucket.recipients * u64::from(CHART_HEIGHT) / peak) as u32;
            let final_ = bucket.delivered + bucket.failed;
            let rate = (bucket.delivered * 100).checked_div(final_).unwrap_or(0);
            Bar {
                x: i as u32 * (BAR_WIDTH + 2),
                height,
                y: CHART_HEIGHT - height,
                label: format!(
                    "{}: {} sent, {}% delivered",
                    label(bucket.start),
                    bucket.recipients,
                    rate
                ),
                rate_y: (final_ > 0).then(|| CHART_HEIGHT - (rate as u32 * CHART_HEIGHT / 100)),
            }
        })
        .collect();
    let sent: u64 = buckets.iter().map(|b| b.recipients).sum();
    let delivered: u64 = buckets.iter().map(|b| b.delivered).sum();
    let failed: u64 = buckets.iter().map(|b| b.failed).sum();
    Chart {
        title,
        bars,
        total: thousands(sent as i64),
        rate: if delivered + failed == 0 {
            "—".to_string()
        } else {
            format!(
                "{:.1}%",
                delivered as f64 * 100.0 / (delivered + failed) as f64
            )
        },
    }
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    balance: String,
    charts: Vec<Chart>,
    devices: String,
    binds: String,
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    TenantViewer(viewer, tenant): TenantViewer,
) -> Result<Response, Problem> {
    let engine = &state.engine;
    let day = engine.send_stats(tenant, HOUR, 24)?;
    let month = engine.send_stats(tenant, DAY, 30)?;
    let charts = vec![
        chart("Last 24 hours, by hour", &day, |at| {
            crate::console::page::when(at)[11..16].to_string()
        }),
        chart("Last 30 days, by day", &month, |at| {
            crate::console::page::when(at)[..10].to_string()
        }),
    ];
    let devices = engine.devices(tenant)?;
    let online = devices
        .iter()
        .filter(|device| {
            engine
                .device_state(device.id)
                .is_some_and(|state| state.online)
        })
        .count();
    let accounts = engine.smpp_accounts(tenant)?;
    let bound: usize = accounts.iter().map(|a| engine.smpp_binds(a.id).len()).sum();
    Ok(render(&OverviewPage {
        chrome: Chrome::new(&viewer, "Overview", "/console/overview"),
        balance: thousands(engine.balance(tenant)?),
        charts,
        devices: format!("{} of {} phones online", online, devices.len()),
        binds: format!(
            "{} SMPP sessions bound over {} accounts",
            bound,
            accounts.len()
        ),
    }))
}
