//! Berth's dashboard. For now: the engine status and where the API is documented; the full
//! dashboard (run form, terminal, containers) is its own piece of work.

use berth_shared::wire::Health;
use leptos::prelude::*;

async fn fetch_health() -> Result<Health, String> {
    let resp = gloo_net::http::Request::get("/api/health")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.ok() {
        return Err(format!("the gateway answered {}", resp.status()));
    }
    resp.json::<Health>().await.map_err(|e| e.to_string())
}

#[component]
fn EngineStatus() -> impl IntoView {
    let health = LocalResource::new(fetch_health);
    move || match health.get() {
        None => view! { <p class="status">"Checking the engine…"</p> }.into_any(),
        Some(Ok(h)) if h.engine.reachable => view! {
            <p class="status ok" data-testid="engine-status">
                "Engine reachable: Docker " {h.engine.version.unwrap_or_default()}
                ", API " {h.engine.api_version.unwrap_or_default()}
            </p>
        }
        .into_any(),
        Some(Ok(h)) => view! {
            <p class="status bad" data-testid="engine-status">
                "Engine unreachable: " {h.engine.error.unwrap_or_default()}
            </p>
        }
        .into_any(),
        Some(Err(e)) => view! {
            <p class="status bad" data-testid="engine-status">"Gateway unreachable: " {e}</p>
        }
        .into_any(),
    }
}

#[component]
fn App() -> impl IntoView {
    view! {
        <main>
            <h1>"Berth"</h1>
            <p>"Launch containers from a browser, the way " <code>"docker run"</code> " does."</p>
            <EngineStatus/>
            <p>"The API is live at " <code>"/api"</code> " (see docs/API.md)."</p>
        </main>
    }
}

fn main() {
    leptos::mount::mount_to_body(App);
}
