//! `/admin/users` (admins): the users, adding one, deleting one.

use berth_shared::wire::{self, Role, UserView};
use leptos::ev;
use leptos::prelude::*;

use crate::api;
use crate::pages::list::{self, Table};
use crate::pages::{ConfirmButton, created_cell, problem, role_badge};

#[component]
pub fn UsersPage() -> impl IntoView {
    let (users, load) = list::load("/api/users", |v: &mut Vec<UserView>| {
        v.sort_by(|a, b| a.username.cmp(&b.username));
    });
    load();
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let me = api::connection().me;

    let remove = move |name: String| {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/api/users/{}", api::segment(&name))).await {
                Ok(()) => {
                    error.set(None);
                    notice.set(Some(format!(
                        "Deleted {name}, with their tokens and sessions."
                    )));
                }
                Err(e) => error.set(Some(format!(
                    "Deleting {name}: {}",
                    problem(&e, "Already taken")
                ))),
            }
            load();
        });
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Users"</h1>
                <p class="lead">
                    "Who may sign in, and what they may do: admins everything, operators run containers within the policy, viewers watch their team's runs."
                </p>
            </header>
            <NewUser notice=notice on_created=move |name: String| {
                error.set(None);
                notice.set(Some(format!("Created {name}.")));
                set_timeout(move || notice.set(None), std::time::Duration::from_secs(6));
                load();
            }/>
            {move || notice.get().map(|n| view! { <p class="callout ok" role="status">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
            <Table
                list=users
                testid="users-table"
                caption="Users"
                empty="No users yet."
                columns=&["Username", "Role", "Team", "Created"]
                actions=true
                row=move |u: UserView| {
                    let is_me = me.with_untracked(|m| m.as_ref().is_some_and(|m| m.username == u.username));
                    let name = u.username.clone();
                    view! {
                        <tr data-user=u.username.clone()>
                            <td data-label="Username">
                                <strong class="name">{u.username.clone()}</strong>
                                {is_me.then(|| view! { <span class="sub muted">"you"</span> })}
                            </td>
                            <td data-label="Role">{role_badge(u.role)}</td>
                            <td data-label="Team">
                                {if u.team.is_empty() {
                                    view! { <span class="muted">"—"</span> }.into_any()
                                } else {
                                    view! { <span class="mono">{u.team.clone()}</span> }.into_any()
                                }}
                            </td>
                            {created_cell(&u.created_at)}
                            <td class="row-actions">
                                {(!is_me).then(|| view! {
                                    <ConfirmButton
                                        label="Delete"
                                        confirm="Really delete?"
                                        aria_label=format!("user {name}")
                                        on_confirm=move || remove(name.clone())
                                    />
                                })}
                            </td>
                        </tr>
                    }
                }
            />
        </section>
    }
}

#[component]
fn NewUser(
    /// The page's last confirmation, cleared when another attempt starts.
    notice: RwSignal<Option<String>>,
    on_created: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Operator);
    let team = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let name = username.get_untracked().trim().to_string();
        let body = wire::NewUser {
            username: name.clone(),
            password: password.get_untracked(),
            role: role.get_untracked(),
            team: team.get_untracked().trim().to_string(),
        };
        busy.set(true);
        notice.set(None);
        leptos::task::spawn_local(async move {
            let answer = api::post_json::<_, UserView>("/api/users", &body).await;
            busy.set(false);
            match answer {
                Ok(_) => {
                    error.set(None);
                    username.set(String::new());
                    password.set(String::new());
                    team.set(String::new());
                    on_created(name);
                }
                Err(e) => error.set(Some(problem(&e, "Already taken"))),
            }
        });
    };
    view! {
        <form class="card new-user" on:submit=submit novalidate data-testid="new-user">
            <h2 class="card-title">"Add a user"</h2>
            <div class="grid">
                <div class="field">
                    <label for="nu-name">"Username"</label>
                    <input id="nu-name" type="text" class="mono" autocomplete="off" autocapitalize="off"
                        spellcheck="false" placeholder="ann" aria-describedby="nu-name-hint"
                        prop:value=username on:input=move |e| username.set(event_target_value(&e))/>
                    <small id="nu-name-hint" class="hint-text">"a-z, 0-9, . _ - (up to 32)"</small>
                </div>
                <div class="field">
                    <label for="nu-password">"Password"</label>
                    <input id="nu-password" type="password" autocomplete="new-password"
                        aria-describedby="nu-password-hint"
                        prop:value=password on:input=move |e| password.set(event_target_value(&e))/>
                    <small id="nu-password-hint" class="hint-text">"at least 8 characters"</small>
                </div>
                <div class="field">
                    <label for="nu-role">"Role"</label>
                    <select id="nu-role" aria-describedby="nu-role-hint" prop:value=move || role.get().as_str()
                        on:change=move |e| if let Some(r) = Role::parse(&event_target_value(&e)) { role.set(r) }>
                        <option value="viewer">"viewer"</option>
                        <option value="operator">"operator"</option>
                        <option value="admin">"admin"</option>
                    </select>
                    <small id="nu-role-hint" class="hint-text">
                        {move || match role.get() {
                            Role::Viewer => "watches their team's runs",
                            Role::Admin => "everything: users, tokens, audit",
                            Role::Operator => "runs containers within the policy",
                            // Never a user's role (guests are demo visitors without an account).
                            Role::Guest => "a demo visitor: their own sessions only",
                        }}
                    </small>
                </div>
                <div class="field">
                    <label for="nu-team">"Team"</label>
                    <input id="nu-team" type="text" class="mono" autocomplete="off" autocapitalize="off"
                        spellcheck="false" placeholder="optional, e.g. web"
                        prop:value=team on:input=move |e| team.set(event_target_value(&e))/>
                </div>
            </div>
            <div class="form-foot">
                {move || error.get().map(|e| view! {
                    <p class="callout bad" role="alert" data-testid="new-user-error">{e}</p>
                })}
                <button type="submit" class="btn primary" data-testid="new-user-submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Adding…" } else { "Add user" }}
                </button>
            </div>
        </form>
    }
}
