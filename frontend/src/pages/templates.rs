//! `/admin/templates` (admins): demo templates (docs/API.md, "Demo environments"). Each is a
//! `docker run` command every visitor of its link (`/try/{name}`) gets a container of, with a
//! terminal, on the template's terms. The page lists them with their link and how busy they are
//! (sessions running and queued, warm containers ready), and creates, edits and deletes them.
//! The command goes in the Run page's own box, checked as it is typed.

use std::collections::BTreeMap;

use berth_shared::wire::{PoolStatus, SessionCounts, TemplateAccess, TemplateRequest};
use leptos::ev;
use leptos::prelude::*;
use serde::Deserialize;

use crate::api::{self, ApiErr};
use crate::clipboard;
use crate::command;
use crate::format;
use crate::pages::ConfirmButton;
use crate::pages::list::{Listing, Table};
use crate::pages::run::{CommandBox, check_line};

/// How often the counts are asked again.
const REFRESH_SECONDS: u64 = 5;

/// A template as the API describes it: the wire's `Template` (its `TemplateRequest` and the
/// counts), read with its `spec` as plain JSON. The dashboard never needs a template's spec as
/// a `RunSpec` (the form makes `argv`; a spec set through the API is passed back as it came),
/// and reading one would add a second `RunSpec` deserializer, about 70 KB, to its wasm.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TemplateView {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    #[serde(default)]
    pub spec: Option<serde_json::Value>,
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub engine_labels: Option<BTreeMap<String, String>>,
    pub ttl_seconds: u64,
    #[serde(default)]
    pub max_ttl_seconds: Option<u64>,
    pub idle_seconds: u64,
    pub capacity: u32,
    #[serde(default)]
    pub warm: u32,
    #[serde(default)]
    pub max_queue: Option<u32>,
    pub access: TemplateAccess,
    #[serde(default)]
    pub pool: PoolStatus,
    #[serde(default)]
    pub sessions: SessionCounts,
}

/// What a failed change says: a 404 is a template someone else deleted meanwhile.
fn problem(e: &ApiErr) -> String {
    match e {
        ApiErr::Status {
            code: 404, message, ..
        } => format!("Gone: {message}"),
        other => crate::pages::problem(other, "Already taken"),
    }
}

/// The link visitors open.
fn try_url(name: &str) -> String {
    let origin = window().location().origin().unwrap_or_default();
    format!("{origin}/try/{}", api::segment(name))
}

/// A template's command as the `docker run` box shows it; empty for a structured spec.
fn command_line(t: &TemplateView) -> String {
    match &t.argv {
        Some(args) => format!("docker run {}", command::command_text(args)),
        None => String::new(),
    }
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let templates: Listing<TemplateView> = RwSignal::new(None);
    // Set only when the answer differs: a table that re-renders every few seconds would lose a
    // half-pressed "Delete" and the keyboard's place.
    let load = move || {
        leptos::task::spawn_local(async move {
            let mut answer = api::get::<Vec<TemplateView>>("/api/templates").await;
            if let Ok(v) = &mut answer {
                v.sort_by(|a, b| a.name.cmp(&b.name));
            }
            if templates.is_disposed() {
                return;
            }
            let answer = Some(answer);
            if templates.with_untracked(|t| *t != answer) {
                templates.set(answer);
            }
        });
    };
    crate::pages::list::refresh_every(REFRESH_SECONDS, load);
    let form = Form::new();
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);

    let remove = move |name: String| {
        leptos::task::spawn_local(async move {
            match api::delete(&format!("/api/templates/{}", api::segment(&name))).await {
                Ok(()) => {
                    error.set(None);
                    notice.set(Some(format!(
                        "Deleted {name}: its sessions ended and its containers are gone."
                    )));
                    if form.editing.get_untracked().as_deref() == Some(name.as_str()) {
                        form.reset();
                    }
                }
                Err(e) => error.set(Some(format!("Deleting {name}: {}", problem(&e)))),
            }
            load();
        });
    };
    let edit = move |t: TemplateView| {
        notice.set(None);
        form.load(&t);
        if let Some(el) = document().get_element_by_id("template-form") {
            el.scroll_into_view();
        }
        if let Some(el) = document().get_element_by_id("tpl-title") {
            use wasm_bindgen::JsCast;
            if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        }
    };

    view! {
        <section class="page templates-page">
            <header class="page-head">
                <h1>"Demo templates"</h1>
                <p class="lead">
                    "A template is a " <code>"docker run"</code>
                    " command that everyone who opens its link gets their own container of, with a terminal in the browser, for a limited time. Public ones need no account."
                </p>
            </header>
            <TemplateForm form=form on_saved=move |text: String| {
                error.set(None);
                notice.set(Some(text));
                load();
            }/>
            {move || notice.get().map(|n| view! { <p class="callout ok" role="status" data-testid="templates-notice">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="callout bad" role="alert">{e}</p> })}
            <Table
                list=templates
                testid="templates-table"
                caption="Demo templates"
                empty="No templates yet: create one above."
                columns=&["Template", "Link", "Access", "Sessions", "Warm", "Terms"]
                actions=true
                class="templates"
                row=move |t: TemplateView| view! { <Row t=t edit=edit remove=remove/> }
            />
        </section>
    }
}

#[component]
fn Row(
    t: TemplateView,
    edit: impl Fn(TemplateView) + Copy + Send + Sync + 'static,
    remove: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let r = t.clone();
    let name = r.name.clone();
    let url = try_url(&name);
    let copied = RwSignal::new(false);
    let copy = {
        let url = url.clone();
        move |_| clipboard::copy_and_flash(url.clone(), copied)
    };
    let (access, access_class) = match r.access {
        TemplateAccess::Public => ("public", "role-badge public"),
        TemplateAccess::Users => ("users", "role-badge"),
    };
    let longest = r.max_ttl_seconds.unwrap_or(r.ttl_seconds);
    let terms = if longest > r.ttl_seconds {
        format!(
            "{}, up to {}",
            format::seconds(r.ttl_seconds),
            format::seconds(longest)
        )
    } else {
        format::seconds(r.ttl_seconds)
    };
    let path = format!("/try/{}", api::segment(&name));
    let delete_name = name.clone();
    view! {
        <tr data-template=name.clone()>
            <td data-label="Template">
                <strong class="name">{r.title.clone()}</strong>
                <span class="sub mono muted">{name.clone()}</span>
                <span class="sub mono muted wrap-any cmd">
                    {match command_line(&r) {
                        line if line.is_empty() => "a structured spec, set through the API".to_string(),
                        line => line,
                    }}
                </span>
            </td>
            <td data-label="Link" class="link-cell">
                <a href=path data-testid="template-link" class="mono wrap-any">{url}</a>
                <button type="button" class="btn small" data-testid="copy-link" on:click=copy>
                    {move || if copied.get() { "Copied ✓" } else { "Copy link" }}
                    <span class="visually-hidden">{format!(" of {name}")}</span>
                </button>
            </td>
            <td data-label="Access"><span class=access_class>{access}</span></td>
            <td data-label="Sessions" class="nowrap">
                <span data-testid="template-running">{t.sessions.running}</span>
                {format!(" of {} running", r.capacity)}
                <span class="sub muted">
                    <span data-testid="template-queued">{t.sessions.queued}</span>
                    " queued"
                </span>
            </td>
            <td data-label="Warm" class="nowrap">
                <span data-testid="template-ready">{t.pool.ready}</span>
                {format!(" of {} ready", t.pool.target)}
            </td>
            <td data-label="Terms" class="nowrap">
                {terms}
                <span class="sub muted">{format!("idle {}", format::seconds(r.idle_seconds))}</span>
            </td>
            <td class="row-actions">
                <button type="button" class="btn small" data-action="edit"
                    aria-label=format!("Edit {name}") on:click=move |_| edit(t.clone())>
                    "Edit"
                </button>
                <ConfirmButton
                    label="Delete"
                    confirm="Really delete?"
                    aria_label=format!("template {name}")
                    on_confirm=move || remove(delete_name.clone())
                />
            </td>
        </tr>
    }
}

/// The form's fields as typed. What the form has no field for (the engine, its labels, the
/// queue's length) is kept from the template being edited.
#[derive(Clone, Copy)]
struct Form {
    /// The template being edited (its name), or `None` for a new one.
    editing: RwSignal<Option<String>>,
    name: RwSignal<String>,
    title: RwSignal<String>,
    description: RwSignal<String>,
    line: RwSignal<String>,
    ttl: RwSignal<String>,
    max_ttl: RwSignal<String>,
    idle: RwSignal<String>,
    capacity: RwSignal<String>,
    warm: RwSignal<String>,
    access: RwSignal<TemplateAccess>,
    /// The template being edited, for what the form has no field for.
    kept: StoredValue<Option<TemplateView>>,
}

impl Form {
    fn new() -> Form {
        let f = Form {
            editing: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            title: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            line: RwSignal::new(String::new()),
            ttl: RwSignal::new(String::new()),
            max_ttl: RwSignal::new(String::new()),
            idle: RwSignal::new(String::new()),
            capacity: RwSignal::new(String::new()),
            warm: RwSignal::new(String::new()),
            access: RwSignal::new(TemplateAccess::Public),
            kept: StoredValue::new(None),
        };
        f.reset();
        f
    }

    /// Empty, with the usual terms: 10 minutes, up to 30, 2 idle, 5 at once, no pool.
    fn reset(&self) {
        self.editing.set(None);
        self.kept.set_value(None);
        for (field, value) in [
            (self.name, ""),
            (self.title, ""),
            (self.description, ""),
            (self.line, ""),
            (self.ttl, "600"),
            (self.max_ttl, "1800"),
            (self.idle, "120"),
            (self.capacity, "5"),
            (self.warm, "0"),
        ] {
            field.set(value.to_string());
        }
        self.access.set(TemplateAccess::Public);
    }

    fn load(&self, t: &TemplateView) {
        let r = t;
        self.editing.set(Some(r.name.clone()));
        self.kept.set_value(Some(r.clone()));
        self.name.set(r.name.clone());
        self.title.set(r.title.clone());
        self.description.set(r.description.clone());
        self.line.set(command_line(r));
        self.ttl.set(r.ttl_seconds.to_string());
        self.max_ttl
            .set(r.max_ttl_seconds.map(|m| m.to_string()).unwrap_or_default());
        self.idle.set(r.idle_seconds.to_string());
        self.capacity.set(r.capacity.to_string());
        self.warm.set(r.warm.to_string());
        self.access.set(r.access);
    }

    /// A structured spec kept from the template being edited: the command box is empty, and
    /// the template keeps running what it ran.
    fn keeps_spec(&self) -> bool {
        self.line.with(|l| l.trim().is_empty())
            && self
                .kept
                .with_value(|k| k.as_ref().is_some_and(|k| k.spec.is_some()))
    }

    /// The body the fields make (a `TemplateRequest`, with a kept spec as it came), or the
    /// first field that is not right.
    fn request(&self) -> Result<serde_json::Value, String> {
        let name = self.name.get_untracked().trim().to_string();
        if name.is_empty() {
            return Err("Name: required (it is the link's last part).".into());
        }
        let keep_spec = untrack(|| self.keeps_spec());
        let argv = if keep_spec {
            None
        } else {
            Some(
                check_line(&self.line.get_untracked())
                    .map_err(|e| format!("docker run command: {e}"))?,
            )
        };
        let number = |label: &str, v: RwSignal<String>| -> Result<Option<u64>, String> {
            let v = v.get_untracked();
            let v = v.trim();
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{label}: a whole number, not {v:?}."))
        };
        let required = |label: &str, v: RwSignal<String>| -> Result<u64, String> {
            number(label, v)?.ok_or_else(|| format!("{label}: required."))
        };
        let small = |label: &str, n: u64| -> Result<u32, String> {
            u32::try_from(n).map_err(|_| format!("{label}: too large."))
        };
        let kept = self.kept.get_value();
        let request = TemplateRequest {
            name,
            title: self.title.get_untracked().trim().to_string(),
            description: self.description.get_untracked().trim().to_string(),
            argv,
            spec: None,
            engine: kept.as_ref().and_then(|k| k.engine.clone()),
            engine_labels: kept.as_ref().and_then(|k| k.engine_labels.clone()),
            ttl_seconds: required("Session length", self.ttl)?,
            max_ttl_seconds: number("Longest with extensions", self.max_ttl)?,
            idle_seconds: required("Idle limit", self.idle)?,
            capacity: small("Capacity", required("Capacity", self.capacity)?)?,
            warm: small("Warm", number("Warm", self.warm)?.unwrap_or(0))?,
            max_queue: kept.as_ref().and_then(|k| k.max_queue),
            access: self.access.get_untracked(),
        };
        let mut body = serde_json::to_value(&request).map_err(|e| e.to_string())?;
        if keep_spec && let Some(spec) = kept.and_then(|k| k.spec) {
            body["spec"] = spec;
        }
        Ok(body)
    }
}

#[component]
fn TemplateForm(
    form: Form,
    /// After a save: what to say about it.
    on_saved: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // The command as the box checks it; an empty box keeps an edited template's spec.
    let checked = Memo::new(move |_| {
        if form.keeps_spec() {
            Ok(Vec::new())
        } else {
            check_line(&form.line.get())
        }
    });
    // What the command gives a visitor: without -i and -t, a terminal that takes no keys.
    let no_terminal = Memo::new(move |_| {
        command::check(&form.line.get())
            .ok()
            .is_some_and(|(_, spec)| !(spec.interactive && spec.tty))
    });
    let editing = move || form.editing.get();

    let save = move || {
        if busy.get_untracked() {
            return;
        }
        let body = match form.request() {
            Ok(b) => b,
            Err(e) => {
                error.set(Some(e));
                return;
            }
        };
        let editing = form.editing.get_untracked();
        let name = form.name.get_untracked().trim().to_string();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = match &editing {
                Some(old) => {
                    let path = format!("/api/templates/{}", api::segment(old));
                    api::put_json::<_, serde::de::IgnoredAny>(&path, &body).await
                }
                None => api::post_json::<_, serde::de::IgnoredAny>("/api/templates", &body).await,
            };
            if busy.is_disposed() {
                return;
            }
            busy.set(false);
            match answer {
                Ok(_) => {
                    error.set(None);
                    form.reset();
                    on_saved(if editing.is_some() {
                        format!("Saved {name}. Sessions running keep their terms.")
                    } else {
                        format!("Created {name}. Its link is {}", try_url(&name))
                    });
                }
                Err(e) => error.set(Some(problem(&e))),
            }
        });
    };
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        save();
    };
    let seconds_hint = |v: RwSignal<String>| {
        move || {
            v.get()
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s >= 60)
                .map(|s| format!("seconds · {}", format::seconds(s)))
                .unwrap_or_else(|| "seconds".into())
        }
    };

    view! {
        <form id="template-form" class="card template-form" on:submit=submit novalidate data-testid="template-form">
            <h2 class="card-title">
                {move || match editing() {
                    Some(name) => view! { "Edit " <code>{name}</code> }.into_any(),
                    None => "New template".into_any(),
                }}
            </h2>
            <div class="grid">
                <div class="field">
                    <label for="tpl-name">"Name"</label>
                    <input id="tpl-name" type="text" class="mono" autocomplete="off" autocapitalize="off"
                        spellcheck="false" placeholder="shell" aria-describedby="tpl-name-hint"
                        maxlength="32" readonly=move || editing().is_some()
                        prop:value=form.name on:input=move |e| form.name.set(event_target_value(&e))/>
                    <small id="tpl-name-hint" class="hint-text">
                        {move || match editing() {
                            Some(_) => "the link's last part: it cannot change".to_string(),
                            None => {
                                let n = form.name.get();
                                let n = n.trim();
                                if n.is_empty() {
                                    "a-z, 0-9, . _ - (up to 32): the link's last part".to_string()
                                } else {
                                    format!("link: /try/{n}")
                                }
                            }
                        }}
                    </small>
                </div>
                <div class="field wide">
                    <label for="tpl-title">"Title"</label>
                    <input id="tpl-title" type="text" autocomplete="off" placeholder="A shell to play in"
                        prop:value=form.title on:input=move |e| form.title.set(event_target_value(&e))/>
                </div>
                <div class="field">
                    <label for="tpl-access">"Who may open it"</label>
                    <select id="tpl-access" aria-describedby="tpl-access-hint"
                        prop:value=move || match form.access.get() {
                            TemplateAccess::Public => "public",
                            TemplateAccess::Users => "users",
                        }
                        on:change=move |e| form.access.set(if event_target_value(&e) == "users" {
                            TemplateAccess::Users
                        } else {
                            TemplateAccess::Public
                        })>
                        <option value="public">"public: anyone"</option>
                        <option value="users">"users: signed in"</option>
                    </select>
                    <small id="tpl-access-hint" class="hint-text">
                        {move || match form.access.get() {
                            TemplateAccess::Public => "anyone with the link, no account; must pass the policy's [guest] table",
                            TemplateAccess::Users => "signed-in users of any role, viewers included",
                        }}
                    </small>
                </div>
                <div class="field full">
                    <label for="tpl-description">"Description"</label>
                    <textarea id="tpl-description" rows="2" placeholder="What visitors can try, in a sentence or two"
                        prop:value=form.description on:input=move |e| form.description.set(event_target_value(&e))></textarea>
                </div>
            </div>
            <div class="command-card template-command">
                <CommandBox
                    id="tpl-command"
                    label="docker run command"
                    error_testid="tpl-command-error"
                    placeholder="docker run -it --network none --memory 64m --cpus 0.5 --pids-limit 64 alpine sh"
                    idle_hint="What every session runs; a terminal wants -it."
                    line=form.line
                    checked=checked
                    on_input=move |text: String| form.line.set(text)
                    on_enter=save
                />
                {move || form.keeps_spec().then(|| view! {
                    <p class="callout warn small">
                        "This template runs a structured spec set through the API. Leave the box empty to keep it, or type a "
                        <code>"docker run"</code> " command to replace it."
                    </p>
                })}
                {move || no_terminal.get().then(|| view! {
                    <p class="callout warn small" data-testid="tpl-no-terminal">
                        "Without " <code>"-i"</code> " and " <code>"-t"</code>
                        " visitors get a terminal they cannot type into."
                    </p>
                })}
            </div>
            <fieldset class="terms">
                <legend>"Terms of a session"</legend>
                <div class="grid">
                    <NumberField id="tpl-ttl" label="Session length" value=form.ttl min="10"
                        hint=seconds_hint(form.ttl)/>
                    <NumberField id="tpl-max-ttl" label="Longest with extensions" value=form.max_ttl min="10"
                        hint=seconds_hint(form.max_ttl)/>
                    <NumberField id="tpl-idle" label="Idle limit" value=form.idle min="5"
                        hint=move || format!("{}: ends without input", seconds_hint(form.idle)())/>
                    <NumberField id="tpl-capacity" label="Capacity" value=form.capacity min="1"
                        hint=|| "sessions at once; more wait in line".to_string()/>
                    <NumberField id="tpl-warm" label="Warm" value=form.warm min="0"
                        hint=|| "containers started ahead of visitors".to_string()/>
                </div>
            </fieldset>
            <div class="form-foot">
                {move || error.get().map(|e| view! {
                    <p class="callout bad" role="alert" data-testid="template-error">{e}</p>
                })}
                {move || editing().is_some().then(|| view! {
                    <button type="button" class="btn" data-testid="template-cancel"
                        on:click=move |_| { error.set(None); form.reset(); }>
                        "Cancel"
                    </button>
                })}
                <button type="submit" class="btn primary" data-testid="template-submit"
                    disabled=move || busy.get() || checked.get().is_err()>
                    {move || match (busy.get(), editing().is_some()) {
                        (true, _) => "Saving…",
                        (false, true) => "Save changes",
                        (false, false) => "Create template",
                    }}
                </button>
            </div>
        </form>
    }
}

/// A labelled field for a whole number, with a line under it saying what it means.
#[component]
fn NumberField<H>(
    id: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    min: &'static str,
    hint: H,
) -> impl IntoView
where
    H: Fn() -> String + Send + Sync + 'static,
{
    let hint_id = format!("{id}-hint");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id type="number" inputmode="numeric" min=min step="1" class="mono"
                aria-describedby=hint_id.clone()
                prop:value=value on:input=move |e| value.set(event_target_value(&e))/>
            <small id=hint_id class="hint-text">{hint}</small>
        </div>
    }
}
