//! `/tokens`: API tokens for scripts and CI (`Authorization: Bearer …`). Everyone manages their
//! own; admins see and revoke everyone's. A new token is shown once: only its hash is kept.

use berth_shared::wire::{self, CreatedToken, TokenView};
use leptos::ev;
use leptos::prelude::*;

use crate::api::{self, ApiErr};
use crate::clipboard;
use crate::pages::list::{self, Table};
use crate::pages::{ConfirmButton, created_cell};

#[component]
pub fn TokensPage() -> impl IntoView {
    let (tokens, load) = list::load("/api/tokens", |v: &mut Vec<TokenView>| {
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    });
    load();
    let error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<CreatedToken>);
    let me = api::connection().me;
    let is_admin = move || me.get().is_some_and(|m| m.is_admin());

    let revoke = move |id: String, name: String| {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/api/tokens/{}", api::segment(&id))).await {
                Ok(()) => {
                    error.set(None);
                    if created.get_untracked().is_some_and(|c| c.id == id) {
                        created.set(None);
                    }
                }
                Err(e) => error.set(Some(format!("Revoking {name}: {e}"))),
            }
            load();
        });
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"API tokens"</h1>
                <p class="lead">
                    {move || if is_admin() {
                        "Tokens let scripts and CI act as their owner. As an admin you see everyone's."
                    } else {
                        "Tokens let scripts and CI act as you, with your role."
                    }}
                    " Send one as " <code>"Authorization: Bearer berth_…"</code>
                </p>
            </header>
            <NewToken on_created=move |c: CreatedToken| {
                error.set(None);
                created.set(Some(c));
                load();
            }/>
            {move || created.get().map(|c| view! { <ShowOnce created=c on_done=move || created.set(None)/> })}
            {move || error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
            <Table
                list=tokens
                testid="tokens-table"
                caption="API tokens"
                empty="No tokens yet."
                columns=&["Name", "Owner", "Created"]
                actions=true
                row=move |t: TokenView| {
                    let (id, name) = (t.id.clone(), t.name.clone());
                    view! {
                        <tr data-token=t.id.clone()>
                            <td data-label="Name">
                                <strong class="name">{t.name.clone()}</strong>
                                <span class="sub mono muted">{format!("berth_{}_…", t.id)}</span>
                            </td>
                            <td data-label="Owner">{t.username}</td>
                            {created_cell(&t.created_at)}
                            <td class="row-actions">
                                <ConfirmButton
                                    label="Revoke"
                                    confirm="Really revoke?"
                                    aria_label=format!("token {}", t.name)
                                    on_confirm=move || revoke(id.clone(), name.clone())
                                />
                            </td>
                        </tr>
                    }
                }
            />
        </section>
    }
}

#[component]
fn NewToken(on_created: impl Fn(CreatedToken) + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = wire::NewToken {
            name: name.get_untracked().trim().to_string(),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = api::post_json::<_, CreatedToken>("/api/tokens", &body).await;
            busy.set(false);
            match answer {
                Ok(c) => {
                    error.set(None);
                    name.set(String::new());
                    on_created(c);
                }
                Err(ApiErr::Status {
                    code: 400, message, ..
                }) => error.set(Some(format!("Not created: {message}."))),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <form class="card inline-form" on:submit=submit novalidate data-testid="new-token">
            <div class="field grow">
                <label for="nt-name">"New token"</label>
                <input id="nt-name" type="text" autocomplete="off" placeholder="What it is for, e.g. ci-deploy"
                    maxlength="64"
                    prop:value=name on:input=move |e| name.set(event_target_value(&e))/>
            </div>
            <button type="submit" class="btn primary" data-testid="new-token-submit"
                disabled=move || busy.get() || name.get().trim().is_empty()>
                {move || if busy.get() { "Creating…" } else { "Create token" }}
            </button>
            {move || error.get().map(|e| view! {
                <p class="callout bad" role="alert" data-testid="new-token-error">{e}</p>
            })}
        </form>
    }
}

/// The new token's secret, with a copy button and the warning that it is shown only now.
#[component]
fn ShowOnce(created: CreatedToken, on_done: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = created.token.clone();
    let copy = move |_| clipboard::copy_and_flash(secret.clone(), copied);
    let field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(el) = field.get() {
            let _ = el.focus();
            el.select();
        }
    });
    view! {
        <section class="card token-once" role="status" aria-labelledby="token-once-title" data-testid="token-once">
            <h2 id="token-once-title" class="card-title">
                "Token " <q>{created.name.clone()}</q> " created"
            </h2>
            <p class="callout warn">
                <strong>"Copy it now: you will not see it again."</strong>
                " Berth keeps only its hash. If you lose it, revoke it and create another."
            </p>
            <div class="copy-row">
                <label for="token-secret" class="visually-hidden">"The new token"</label>
                <input id="token-secret" type="text" class="mono" readonly node_ref=field
                    data-testid="new-token-value" prop:value=created.token.clone()
                    on:focus=move |e| {
                        use wasm_bindgen::JsCast;
                        if let Some(el) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            el.select();
                        }
                    }/>
                <button type="button" class="btn" on:click=copy data-testid="copy-token">
                    {move || if copied.get() { "Copied ✓" } else { "Copy" }}
                </button>
                <button type="button" class="btn ghost" on:click=move |_| on_done()>"Done"</button>
            </div>
        </section>
    }
}
