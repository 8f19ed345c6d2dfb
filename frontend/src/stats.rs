//! Live resource use of running containers (`docs/API.md`, "Live resource use"): the run page's
//! CPU and memory charts of the last two minutes, fed by `/api/containers/{id}/stats/ws` (one
//! sample a second), and the containers page's current numbers, one `GET …/stats` per running
//! container at most every few seconds. The charts are inline SVG polylines; the numbers beside
//! them are their text alternative.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use berth_shared::wire::StatsSample;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, WebSocket};

use crate::api;
use crate::engines::with_engine;
use crate::format;

/// Samples kept for the charts: two minutes at one a second.
const WINDOW: usize = 120;

/// `/api/containers/{id}/stats…` on `engine` (empty: wherever the gateway finds it).
fn path(container: &str, engine: &str, tail: &str) -> String {
    let p = format!("/api/containers/{}/stats{tail}", api::segment(container));
    if engine.is_empty() {
        p
    } else {
        with_engine(&p, engine)
    }
}

/// "3.2 %" (CPU as `docker stats` gives it: 100 % is one CPU busy).
pub fn percent(p: f64) -> String {
    if p < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

/// Memory in binary units, as `docker stats` writes it ("12.5 MiB").
pub fn mem(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if v < 100.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Feed {
    Connecting,
    Live,
    /// The socket closed: the container stopped, or the connection dropped.
    Ended,
}

/// Opens the stats socket of `container` for as long as the calling view lives.
fn feed(container: &str, engine: &str) -> (RwSignal<VecDeque<StatsSample>>, RwSignal<Feed>) {
    let samples = RwSignal::new(VecDeque::<StatsSample>::new());
    let state = RwSignal::new(Feed::Connecting);
    let Ok(ws) = WebSocket::new(&api::ws_url(&path(container, engine, "/ws"))) else {
        state.set(Feed::Ended);
        return (samples, state);
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let Some(text) = e.data().as_string() else {
            return;
        };
        if let Ok(s) = serde_json::from_str::<StatsSample>(&text) {
            if state.get_untracked() != Feed::Live {
                state.set(Feed::Live);
            }
            samples.update(|v| {
                v.push_back(s);
                while v.len() > WINDOW {
                    v.pop_front();
                }
            });
        }
    });
    let on_close = Closure::<dyn FnMut()>::new(move || state.set(Feed::Ended));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let keep = SendWrapper::new((ws, on_message, on_close));
    on_cleanup(move || {
        let (ws, _, _) = &*keep;
        ws.set_onmessage(None);
        ws.set_onclose(None);
        let _ = ws.close();
        drop(keep);
    });
    (samples, state)
}

/// `values` (oldest first, the newest at the right edge of a two-minute window) as the
/// `points` of a polyline in a 120×40 box, `max` at the top.
fn points(values: impl ExactSizeIterator<Item = f64>, max: f64) -> String {
    let n = values.len();
    let max = if max > 0.0 { max } else { 1.0 };
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        let x = (WINDOW - n + i) as f64 * 120.0 / (WINDOW - 1) as f64;
        let y = 40.0 - (v / max).clamp(0.0, 1.0) * 38.0 - 1.0;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{x:.1},{y:.1}"));
    }
    out
}

/// One chart: a title, the current value in words, and the line (hidden from screen readers,
/// which read `summary` instead).
fn chart(
    title: &'static str,
    testid: &'static str,
    now: String,
    summary: String,
    line: String,
) -> impl IntoView {
    view! {
        <figure class="stat-chart" data-testid=testid>
            <figcaption>
                <span class="stat-title">{title}</span>
                <strong class="stat-now" data-testid=format!("{testid}-now")>{now}</strong>
            </figcaption>
            <svg viewBox="0 0 120 40" preserveAspectRatio="none" aria-hidden="true">
                <title>{summary.clone()}</title>
                <line class="stat-grid" x1="0" y1="20" x2="120" y2="20"></line>
                <polyline class="stat-line" points=line vector-effect="non-scaling-stroke"></polyline>
            </svg>
            <p class="stat-sub muted">{summary}</p>
        </figure>
    }
}

/// CPU and memory of `container` over the last two minutes, live. `has_limit`: the container
/// has a memory limit of its own (otherwise the engine reports the host's memory as its limit).
#[component]
pub fn LiveStats(
    container: String,
    engine: String,
    #[prop(optional)] has_limit: bool,
) -> impl IntoView {
    let (samples, state) = feed(&container, &engine);
    let body = move || {
        samples.with(|v| {
            let Some(last) = v.back() else {
                return view! {
                    <p class="muted stat-wait">
                        {move || match state.get() {
                            Feed::Ended => "No resource figures: the container is not running.",
                            _ => "Waiting for the first figures…",
                        }}
                    </p>
                }
                .into_any();
            };
            let cpu_peak = v.iter().map(|s| s.cpu_percent).fold(0.0, f64::max);
            let cpu_max = (cpu_peak * 1.25).max(5.0);
            let cpu_line = points(v.iter().map(|s| s.cpu_percent), cpu_max);
            let cpu_summary = format!(
                "CPU now {}, peak {} over the last {} s ({} CPUs)",
                percent(last.cpu_percent),
                percent(cpu_peak),
                v.len(),
                last.online_cpus
            );
            let mem_peak = v.iter().map(|s| s.memory_bytes).max().unwrap_or(0);
            let limit =
                (has_limit && last.memory_limit_bytes > 0).then_some(last.memory_limit_bytes);
            let mem_max = limit
                .map(|l| l as f64)
                .unwrap_or((mem_peak as f64 * 1.25).max(1.0));
            let mem_line = points(v.iter().map(|s| s.memory_bytes as f64), mem_max);
            let mem_now = match limit {
                Some(l) => format!("{} / {}", mem(last.memory_bytes), mem(l)),
                None => mem(last.memory_bytes),
            };
            let mem_summary = match limit {
                Some(l) => format!(
                    "Memory now {} of its {} limit ({:.0} %), peak {}",
                    mem(last.memory_bytes),
                    mem(l),
                    last.memory_bytes as f64 * 100.0 / l as f64,
                    mem(mem_peak)
                ),
                None => format!(
                    "Memory now {}, peak {}; no limit",
                    mem(last.memory_bytes),
                    mem(mem_peak)
                ),
            };
            view! {
                <div class="stat-charts">
                    {chart("CPU", "stats-cpu", percent(last.cpu_percent), cpu_summary, cpu_line)}
                    {chart("Memory", "stats-memory", mem_now, mem_summary, mem_line)}
                </div>
                <p class="stat-more muted" data-testid="stats-more">
                    {format!(
                        "{} processes · network {} in, {} out · disk {} read, {} written",
                        last.pids,
                        format::bytes(last.net_rx_bytes),
                        format::bytes(last.net_tx_bytes),
                        format::bytes(last.block_read_bytes),
                        format::bytes(last.block_write_bytes)
                    )}
                </p>
            }
            .into_any()
        })
    };
    view! {
        <section class="card live-stats" aria-label="Resource use" data-testid="live-stats">
            <header class="stat-head">
                <strong>"Resource use"</strong>
                <span class="muted">
                    {move || match state.get() {
                        Feed::Connecting => "connecting…",
                        Feed::Live => "last two minutes, every second",
                        Feed::Ended => "stopped",
                    }}
                </span>
            </header>
            {body}
        </section>
    }
}

/// The containers page's current figures: the last sample of each running container it asked
/// for, asked again at most every [`Cache::EVERY`].
#[derive(Clone, Copy)]
pub struct Cache {
    samples: RwSignal<HashMap<String, StatsSample>>,
    /// When each container was last asked for (ms since the epoch).
    asked: StoredValue<HashMap<String, f64>>,
}

impl Cache {
    const EVERY: Duration = Duration::from_secs(9);

    pub fn new() -> Cache {
        Cache {
            samples: RwSignal::new(HashMap::new()),
            asked: StoredValue::new(HashMap::new()),
        }
    }

    fn key(engine: &str, container: &str) -> String {
        format!("{engine}/{container}")
    }

    /// Asks for the figures of these running containers, `(engine, id)`, when not asked lately.
    pub fn refresh(&self, running: Vec<(String, String)>) {
        let now = format::now_ms();
        let every = Self::EVERY.as_millis() as f64;
        for (engine, id) in running {
            let key = Self::key(&engine, &id);
            let due = self
                .asked
                .with_value(|a| a.get(&key).is_none_or(|t| now - t >= every));
            if !due {
                continue;
            }
            self.asked.update_value(|a| {
                a.insert(key.clone(), now);
            });
            let samples = self.samples;
            leptos::task::spawn_local(async move {
                if let Ok(s) = api::get::<StatsSample>(&path(&id, &engine, "")).await
                    && !samples.is_disposed()
                {
                    samples.update(|m| {
                        m.insert(key, s);
                    });
                }
            });
        }
    }

    /// A container's current CPU and memory, as a table cell.
    pub fn cell(&self, engine: &str, container: &str, running: bool) -> impl IntoView + use<> {
        let key = Self::key(engine, container);
        let samples = self.samples;
        let text = move || {
            if !running {
                return None;
            }
            samples.with(|m| {
                m.get(&key).map(|s| {
                    (
                        format!("{} CPU", percent(s.cpu_percent)),
                        mem(s.memory_bytes),
                        format!(
                            "CPU {} of one CPU ({} online); memory {} (engine limit {})",
                            percent(s.cpu_percent),
                            s.online_cpus,
                            mem(s.memory_bytes),
                            mem(s.memory_limit_bytes)
                        ),
                    )
                })
            })
        };
        view! {
            <td data-label="Usage" class="nowrap usage" data-testid="container-usage">
                {move || match text() {
                    Some((cpu, memory, title)) => view! {
                        <span title=title>
                            <span class="usage-cpu">{cpu}</span>
                            <div class="sub muted usage-mem">{memory}</div>
                        </span>
                    }
                    .into_any(),
                    None if running => view! { <span class="muted">"…"</span> }.into_any(),
                    None => view! {
                        <span class="muted">
                            <span aria-hidden="true">"—"</span>
                            <span class="visually-hidden">"not running"</span>
                        </span>
                    }
                    .into_any(),
                }}
            </td>
        }
    }
}
