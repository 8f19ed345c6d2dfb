//! `/registries`: the credentials pulls send to private registries (`docs/API.md`, the
//! registries rows). Admins add them (for one team, or everyone's) and delete them; others see
//! their team's and the global ones. No answer ever holds a password, and neither does the page
//! after it sent one.

use berth_shared::wire::{NewRegistry, RegistryView, UserView};
use leptos::ev;
use leptos::prelude::*;

use crate::api;
use crate::pages::list::{self, Table};
use crate::pages::{ConfirmButton, created_cell, problem};

#[component]
pub fn RegistriesPage() -> impl IntoView {
    let (registries, load) = list::load("/api/registries", |v: &mut Vec<RegistryView>| {
        v.sort_by(|a, b| (&a.server, &a.team, &a.username).cmp(&(&b.server, &b.team, &b.username)));
    });
    load();
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let me = api::connection().me;
    let is_admin = Memo::new(move |_| me.get().is_some_and(|m| m.is_admin()));

    let remove = move |id: String, what: String| {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/api/registries/{}", api::segment(&id))).await {
                Ok(()) => {
                    error.set(None);
                    notice.set(Some(format!("Deleted the credential for {what}.")));
                }
                Err(e) => error.set(Some(format!(
                    "Deleting {what}: {}",
                    problem(&e, "Already there")
                ))),
            }
            load();
        });
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Registries"</h1>
                <p class="lead">
                    {move || if is_admin.get() {
                        "Credentials for private registries. A pull sends the one for the image's registry of the run owner's team, else an everyone's one, else none. Passwords are stored sealed and never shown again."
                    } else {
                        "The registry credentials your runs' pulls may use: your team's and everyone's. Passwords are never shown; admins manage them."
                    }}
                </p>
            </header>
            <Show when=move || is_admin.get()>
                <NewCredential notice=notice on_created=move |what: String| {
                    error.set(None);
                    notice.set(Some(format!("Added the credential for {what}.")));
                    load();
                }/>
            </Show>
            {move || notice.get().map(|n| view! { <p class="callout ok" role="status">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
            {move || {
                let admin = is_admin.get();
                view! {
                    <Table
                        list=registries
                        testid="registries-table"
                        caption="Registry credentials"
                        empty="No registry credentials: pulls are anonymous."
                        columns=&["Registry", "Username", "Team", "Added"]
                        actions=admin
                        row=move |r: RegistryView| {
                            let what = format!("{} ({})", r.server, r.username);
                            let id = r.id.clone();
                            view! {
                                <tr data-registry=r.server.clone() data-id=r.id.clone()>
                                    <td data-label="Registry"><strong class="name mono">{r.server.clone()}</strong></td>
                                    <td data-label="Username" class="mono">{r.username.clone()}</td>
                                    <td data-label="Team">
                                        {match r.team.clone() {
                                            Some(t) => view! { <span class="mono">{t}</span> }.into_any(),
                                            None => view! { <span class="muted">"everyone"</span> }.into_any(),
                                        }}
                                    </td>
                                    {created_cell(&r.created_at)}
                                    {admin.then(|| view! {
                                        <td class="row-actions">
                                            <ConfirmButton
                                                label="Delete"
                                                confirm="Really delete?"
                                                aria_label=format!("credential for {what}")
                                                on_confirm=move || remove(id.clone(), what.clone())
                                            />
                                        </td>
                                    })}
                                </tr>
                            }
                        }
                    />
                }
            }}
        </section>
    }
}

/// The teams users are in, for the picker (`None`: everyone's).
fn teams(users: &[UserView]) -> Vec<String> {
    let mut t: Vec<String> = users
        .iter()
        .map(|u| u.team.clone())
        .filter(|t| !t.is_empty())
        .collect();
    t.sort();
    t.dedup();
    t
}

#[component]
fn NewCredential(
    notice: RwSignal<Option<String>>,
    on_created: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let server = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    // Empty: everyone's.
    let team = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let known_teams = RwSignal::new(Vec::<String>::new());
    leptos::task::spawn_local(async move {
        if let Ok(users) = api::get::<Vec<UserView>>("/api/users").await
            && !known_teams.is_disposed()
        {
            known_teams.set(teams(&users));
        }
    });
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let body = NewRegistry {
            server: server.get_untracked().trim().to_string(),
            username: username.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            team: Some(team.get_untracked()).filter(|t| !t.is_empty()),
        };
        if body.server.is_empty() || body.username.is_empty() || body.password.is_empty() {
            error.set(Some("Server, username and password are all needed.".into()));
            return;
        }
        let what = format!("{} ({})", body.server, body.username);
        busy.set(true);
        notice.set(None);
        leptos::task::spawn_local(async move {
            let answer = api::post_json::<_, RegistryView>("/api/registries", &body).await;
            drop(body);
            busy.set(false);
            // The password leaves the page either way.
            password.set(String::new());
            match answer {
                Ok(_) => {
                    error.set(None);
                    server.set(String::new());
                    username.set(String::new());
                    team.set(String::new());
                    on_created(what);
                }
                Err(e) => error.set(Some(problem(&e, "Already there"))),
            }
        });
    };
    view! {
        <form class="card new-registry" on:submit=submit novalidate data-testid="new-registry">
            <h2 class="card-title">"Add a credential"</h2>
            <div class="grid">
                <div class="field">
                    <label for="nr-server">"Registry"</label>
                    <input id="nr-server" type="text" class="mono" autocomplete="off" autocapitalize="off"
                        spellcheck="false" placeholder="registry.example.com" aria-describedby="nr-server-hint"
                        prop:value=server on:input=move |e| server.set(event_target_value(&e))/>
                    <small id="nr-server-hint" class="hint-text">"host[:port]; docker.io for Docker Hub"</small>
                </div>
                <div class="field">
                    <label for="nr-username">"Username"</label>
                    <input id="nr-username" type="text" class="mono" autocomplete="off" autocapitalize="off"
                        spellcheck="false"
                        prop:value=username on:input=move |e| username.set(event_target_value(&e))/>
                </div>
                <div class="field">
                    <label for="nr-password">"Password or token"</label>
                    <input id="nr-password" type="password" autocomplete="new-password"
                        aria-describedby="nr-password-hint"
                        prop:value=password on:input=move |e| password.set(event_target_value(&e))/>
                    <small id="nr-password-hint" class="hint-text">"stored sealed, never shown again"</small>
                </div>
                <div class="field">
                    <label for="nr-team">"For"</label>
                    <select id="nr-team" aria-describedby="nr-team-hint" prop:value=team
                        on:change=move |e| team.set(event_target_value(&e))>
                        <option value="">"everyone"</option>
                        {move || known_teams.get().into_iter().map(|t| view! {
                            <option value=t.clone()>{format!("team {t}")}</option>
                        }).collect_view()}
                    </select>
                    <small id="nr-team-hint" class="hint-text">
                        {move || if team.get().is_empty() {
                            "every run's pulls may use it".to_string()
                        } else {
                            format!("only runs of team {}", team.get())
                        }}
                    </small>
                </div>
            </div>
            <div class="form-foot">
                {move || error.get().map(|e| view! {
                    <p class="callout bad" role="alert" data-testid="new-registry-error">{e}</p>
                })}
                <button type="submit" class="btn primary" data-testid="new-registry-submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Adding…" } else { "Add credential" }}
                </button>
            </div>
        </form>
    }
}
