//! The run form: the common `docker run` options as fields, and the whole command line as text.
//! Both edit one spec: typing in the command line refills the fields, editing a field rewrites
//! the command line. The line is checked in the browser with the gateway's own parser.

use std::cell::RefCell;

use berth_shared::spec::RunSpec;
use berth_shared::wire::{EngineView, Me};
use leptos::ev;
use leptos::prelude::*;

use crate::api;
use crate::clipboard;
use crate::command;
use crate::engines;
use crate::format;
use crate::route::{self, Link};
use crate::session::{self, Mode, Phase, Session};

/// What the next form starts with: a command line, and the engine to run it on (`None`:
/// automatic).
struct Prefill {
    line: String,
    engine: Option<String>,
}

thread_local! {
    /// The next form's start ("Run again", "Run this image").
    static PREFILL: RefCell<Option<Prefill>> = const { RefCell::new(None) };
}

/// Opens the run form filled with `line`.
pub fn open_with(line: String) {
    open_with_on(line, None);
}

/// Opens the run form filled with `line`, on `engine` (`None`: automatic), e.g. where the
/// image to run already is.
pub fn open_with_on(line: String, engine: Option<String>) {
    PREFILL.with(|p| *p.borrow_mut() = Some(Prefill { line, engine }));
    route::navigate("/");
}

/// The form's fields as text, as the user edits them.
#[derive(Clone, Copy)]
struct Fields {
    image: RwSignal<String>,
    command: RwSignal<String>,
    name: RwSignal<String>,
    env: RwSignal<String>,
    ports: RwSignal<String>,
    volumes: RwSignal<String>,
    memory: RwSignal<String>,
    cpus: RwSignal<String>,
    pull: RwSignal<String>,
    interactive: RwSignal<bool>,
    tty: RwSignal<bool>,
    rm: RwSignal<bool>,
}

impl Fields {
    fn new() -> Fields {
        Fields {
            image: RwSignal::new(String::new()),
            command: RwSignal::new(String::new()),
            name: RwSignal::new(String::new()),
            env: RwSignal::new(String::new()),
            ports: RwSignal::new(String::new()),
            volumes: RwSignal::new(String::new()),
            memory: RwSignal::new(String::new()),
            cpus: RwSignal::new(String::new()),
            pull: RwSignal::new(String::new()),
            interactive: RwSignal::new(false),
            tty: RwSignal::new(false),
            rm: RwSignal::new(false),
        }
    }

    /// Fills the fields from a spec parsed from the command line.
    fn load(&self, s: &RunSpec) {
        self.image.set(s.image.clone());
        self.command.set(command::command_text(&s.command));
        self.name.set(s.name.clone().unwrap_or_default());
        self.env.set(s.env.join("\n"));
        self.ports.set(s.publish.join("\n"));
        self.volumes.set(s.volume.join("\n"));
        self.memory.set(s.memory.clone().unwrap_or_default());
        self.cpus.set(s.cpus.clone().unwrap_or_default());
        self.pull.set(s.pull.clone().unwrap_or_default());
        self.interactive.set(s.interactive);
        self.tty.set(s.tty);
        self.rm.set(s.rm);
    }

    /// Writes the fields into `s`, keeping every option the form has no field for.
    fn store(&self, s: &mut RunSpec) -> Result<(), String> {
        let opt = |v: String| {
            let v = v.trim().to_string();
            (!v.is_empty()).then_some(v)
        };
        s.image = self.image.get_untracked().trim().to_string();
        // The command box is split as a pasted line is.
        s.command = berth_shared::shell::split_words(&self.command.get_untracked())?;
        s.name = opt(self.name.get_untracked());
        s.env = command::lines(&self.env.get_untracked());
        s.publish = command::lines(&self.ports.get_untracked());
        s.volume = command::lines(&self.volumes.get_untracked());
        s.memory = opt(self.memory.get_untracked());
        s.cpus = opt(self.cpus.get_untracked());
        s.pull = opt(self.pull.get_untracked());
        s.interactive = self.interactive.get_untracked();
        s.tty = self.tty.get_untracked();
        s.rm = self.rm.get_untracked();
        Ok(())
    }
}

/// `/`: the run form, or, for whoever may not run anything at all (a viewer, or an operator the
/// policy gives no rules), why not: a form the gateway could only refuse would waste their time.
/// Until `/api/me` answers, the form (the gateway checks every run anyway).
#[component]
pub fn RunPage() -> impl IntoView {
    let me = api::connection().me;
    let refusal = Memo::new(move |_| me.get().filter(|m| !m.may_run).map(|m| why_not_run(&m)));
    move || match refusal.get() {
        None => view! { <RunForm/> }.into_any(),
        Some(why) => view! { <CannotRun why=why/> }.into_any(),
    }
}

/// Why `me` cannot run containers, in the words the Run page shows.
fn why_not_run(me: &Me) -> String {
    if me.may_act() {
        format!(
            "The policy does not let {}s run containers; ask an admin.",
            me.role.as_str()
        )
    } else {
        format!("Your role ({}) cannot run containers.", me.role.as_str())
    }
}

#[component]
fn CannotRun(why: String) -> impl IntoView {
    view! {
        <section class="page run-page">
            <header class="page-head">
                <h1>"Run a container"</h1>
            </header>
            <div class="callout warn denied" role="note" data-testid="run-forbidden">
                <strong>{why}</strong>
                <span class="sub">
                    "You can still follow the runs you may see on the "
                    <Link href="/history".into()>"History"</Link>
                    " page, and look at the engine's "
                    <Link href="/containers".into()>"containers"</Link>
                    " and "
                    <Link href="/images".into()>"images"</Link>
                    "."
                </span>
            </div>
        </section>
    }
}

#[component]
fn RunForm() -> impl IntoView {
    let fields = Fields::new();
    let line = RwSignal::new(String::new());
    // The last spec the command line parsed to: the form edits it.
    let spec = RwSignal::new(RunSpec::default());
    let checked = Memo::new(move |_| check_line(&line.get()));
    let submitting: RwSignal<Option<Session>> = RwSignal::new(None);
    let submit_error = RwSignal::new(None::<SubmitError>);
    let copied = RwSignal::new(false);
    // The engine to run on, by name; empty: the gateway places the run.
    let engine = RwSignal::new(String::new());
    let choices = engine_choices(engine);

    let set_line = move |text: String| {
        if let Ok(args) = command::run_args(&text)
            && let Some(s) = command::parse_for_form(&args)
        {
            fields.load(&s);
            spec.set(s);
        }
        line.set(text);
    };
    if let Some(prefill) = PREFILL.with(|p| p.borrow_mut().take()) {
        set_line(prefill.line);
        engine.set(prefill.engine.unwrap_or_default());
    }

    // A field changed: rewrite the command line from the fields.
    let field_changed = move || {
        let mut s = spec.get_untracked();
        match fields.store(&mut s) {
            Ok(()) => {
                line.set(command::line(&s));
                spec.set(s);
            }
            Err(e) => submit_error.set(Some(SubmitError::Other(format!("command: {e}")))),
        }
    };

    let submit = move || {
        let Ok(args) = checked.get_untracked() else {
            return;
        };
        if submitting.get_untracked().is_some() {
            return;
        }
        let s = spec.get_untracked();
        // Only a choice the picker offered: with one engine there is nothing to choose.
        let on = Some(engine.get_untracked())
            .filter(|e| !e.is_empty() && choices.with_untracked(|c| c.len() > 1));
        submit_error.set(None);
        submitting.set(Some(Session::start(
            args,
            Mode {
                tty: s.tty,
                interactive: s.interactive,
            },
            on,
        )));
    };

    // The run is accepted: its page takes over the session. Or it failed before that.
    Effect::new(move |_| {
        let Some(s) = submitting.get() else {
            return;
        };
        if let Some(id) = s.run_id.get() {
            submitting.set(None);
            session::hand_off(id.clone(), s);
            route::navigate(&format!("/runs/{id}"));
        } else if let Phase::Failed { code, message } = s.phase.get() {
            submitting.set(None);
            s.close();
            submit_error.set(Some(SubmitError::from_failure(code, message)));
        }
    });

    let copy = move |_| clipboard::copy_and_flash(command::line(&spec.get_untracked()), copied);

    view! {
        <section class="page run-page">
            <header class="page-head">
                <h1>"Run a container"</h1>
                <p class="lead">
                    "Paste a " <code>"docker run"</code>
                    " command or fill in the options: they stay in sync."
                </p>
            </header>
            <form
                class="run-form"
                novalidate
                on:submit=move |e: ev::SubmitEvent| {
                    e.prevent_default();
                    submit();
                }
            >
                <div class="card command-card">
                    <CommandBox
                        id="run-command"
                        label="docker run command"
                        error_testid="run-error"
                        placeholder="docker run --rm -it alpine sh"
                        idle_hint="Enter runs it. Shift+Enter adds a line."
                        line=line
                        checked=checked
                        on_input=set_line
                        on_enter=submit
                    >
                        <EnginePicker choices=choices value=engine/>
                        <div class="actions">
                            <button
                                type="button"
                                class="btn"
                                data-testid="copy-command"
                                on:click=copy
                                disabled=move || checked.get().is_err()
                            >
                                {move || if copied.get() { "Copied ✓" } else { "Copy as docker run" }}
                            </button>
                            <button
                                type="submit"
                                class="btn primary"
                                data-testid="run-submit"
                                disabled=move || checked.get().is_err() || submitting.get().is_some()
                            >
                                {move || if submitting.get().is_some() { "Starting…" } else { "Run ▸" }}
                            </button>
                        </div>
                    </CommandBox>
                    {move || submit_error.get().map(|e| e.view())}
                </div>

                <fieldset class="card options">
                    <legend>"Options"</legend>
                    <div class="grid">
                        <Field label="Image" hint="busybox, nginx:1.27, registry:5000/app" value=fields.image on_change=field_changed wide=true/>
                        <Field label="Command and arguments" hint="sh -c 'echo hello'" value=fields.command on_change=field_changed wide=true/>
                        <Field label="Name" hint="--name" value=fields.name on_change=field_changed/>
                        <div class="field">
                            <label for="f-pull">"Pull image"</label>
                            <select
                                id="f-pull"
                                prop:value=fields.pull
                                on:change=move |e| {
                                    fields.pull.set(event_target_value(&e));
                                    field_changed();
                                }
                            >
                                <option value="">"when missing (default)"</option>
                                <option value="always">"always"</option>
                                <option value="never">"never"</option>
                            </select>
                        </div>
                        <Field label="Environment" hint="KEY=value, one per line" value=fields.env on_change=field_changed lines=true/>
                        <Field label="Ports" hint="8080:80, one per line" value=fields.ports on_change=field_changed lines=true/>
                        <Field label="Volumes" hint="/host/path:/data, one per line" value=fields.volumes on_change=field_changed lines=true/>
                        <Field label="Memory limit" hint="256m" value=fields.memory on_change=field_changed/>
                        <Field label="CPUs" hint="1.5" value=fields.cpus on_change=field_changed/>
                    </div>
                    <div class="checks">
                        <Check label="Interactive" flag="-i" hint="keep stdin open: type into the terminal" value=fields.interactive on_change=field_changed/>
                        <Check label="TTY" flag="-t" hint="a real terminal: colours, prompts, full-screen programs" value=fields.tty on_change=field_changed/>
                        <Check label="Remove when done" flag="--rm" hint="delete the container when it exits" value=fields.rm on_change=field_changed/>
                    </div>
                </fieldset>
            </form>
        </section>
    }
}

/// The `docker run` box: the whole command line, checked as it is typed with the gateway's own
/// parser and planner (`checked`: the arguments, or the first error, shown under it). The Run
/// page's, and the template form's (`/admin/templates`). `id` is the textarea's id and
/// `data-testid`; `children` go in its foot, after the check (pickers, buttons). Enter calls
/// `on_enter` (a command line is one line; Shift+Enter adds one anyway).
#[component]
pub fn CommandBox(
    id: &'static str,
    label: &'static str,
    /// The `data-testid` of the inline error.
    error_testid: &'static str,
    placeholder: &'static str,
    /// What the check line says while the box is empty.
    idle_hint: &'static str,
    line: RwSignal<String>,
    checked: Memo<Result<Vec<String>, String>>,
    on_input: impl Fn(String) + Copy + Send + Sync + 'static,
    on_enter: impl Fn() + Copy + Send + Sync + 'static,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let check_id = format!("{id}-check");
    view! {
        <label for=id class="label">{label}</label>
        <div class="command-row">
            <span class="prompt" aria-hidden="true">"$"</span>
            <textarea
                id=id
                class="mono command-input"
                data-testid=id
                rows="2"
                spellcheck="false"
                autocomplete="off"
                autocapitalize="off"
                placeholder=placeholder
                aria-describedby=check_id.clone()
                aria-invalid=move || {
                    (checked.get().is_err() && !line.get().trim().is_empty()).to_string()
                }
                prop:value=line
                on:input=move |e| on_input(event_target_value(&e))
                on:keydown=move |e: ev::KeyboardEvent| {
                    // Enter runs, like a shell; Shift+Enter for a new line.
                    if e.key() == "Enter" && !e.shift_key() {
                        e.prevent_default();
                        on_enter();
                    }
                }
            ></textarea>
        </div>
        <div class="command-foot">
            <p id=check_id class="check" aria-live="polite">
                {move || match checked.get() {
                    Ok(_) => view! {
                        <span class="ok">"✓ Valid " <code>"docker run"</code> " command"</span>
                    }
                    .into_any(),
                    Err(_) if line.get().trim().is_empty() => view! {
                        <span class="muted">{idle_hint}</span>
                    }
                    .into_any(),
                    Err(e) => view! {
                        <span class="error" data-testid=error_testid role="alert">"✗ " {e}</span>
                    }
                    .into_any(),
                }}
            </p>
            {children.map(|c| c())}
        </div>
    }
}

/// What the command line holds: the arguments to send, or why it cannot run (the Run page's and
/// the template form's check).
pub fn check_line(line: &str) -> Result<Vec<String>, String> {
    if command::run_args(line)?.is_empty() {
        return Err("enter an image to run, or paste a docker run command".into());
    }
    command::check(line).map(|(args, _)| args)
}

/// The engines a run can be sent to (`/api/engines`, asked when the form opens). A chosen
/// engine the gateway does not list (any more) goes back to automatic.
fn engine_choices(chosen: RwSignal<String>) -> RwSignal<Vec<EngineView>> {
    let choices = RwSignal::new(Vec::<EngineView>::new());
    leptos::task::spawn_local(async move {
        if let Ok(list) = api::get::<Vec<EngineView>>("/api/engines").await {
            engines::learn_views(&list);
            // The form may be gone by now.
            let name = chosen.try_get_untracked().unwrap_or_default();
            if !name.is_empty() && !list.iter().any(|e| e.name == name) {
                chosen.set(String::new());
            }
            choices.set(list);
        }
    });
    choices
}

/// "Automatic" (the gateway places the run) or one engine by name, each saying when it would
/// not take the run now; not shown with a single engine.
#[component]
fn EnginePicker(choices: RwSignal<Vec<EngineView>>, value: RwSignal<String>) -> impl IntoView {
    move || {
        let list = choices.get();
        (list.len() > 1).then(|| {
            let options = list
                .into_iter()
                .map(|e| {
                    let mut text = e.name.clone();
                    if !e.labels.is_empty() {
                        let labels: Vec<String> =
                            e.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        text += &format!(" ({})", labels.join(", "));
                    }
                    if !e.reachable {
                        text += " · unreachable";
                    } else if e.max_runs.is_some_and(|max| e.runs >= u64::from(max)) {
                        text += " · full";
                    }
                    let name = e.name.clone();
                    view! {
                        <option value=e.name prop:selected=move || value.get() == name>{text}</option>
                    }
                })
                .collect_view();
            view! {
                <div class="engine-picker">
                    <label for="run-engine">"Engine"</label>
                    <select
                        id="run-engine"
                        data-testid="run-engine"
                        title="Where the container runs; Automatic lets Berth choose"
                        on:change=move |e| value.set(event_target_value(&e))
                    >
                        <option value="" prop:selected=move || value.get().is_empty()>
                            "Automatic"
                        </option>
                        {options}
                    </select>
                </div>
            }
        })
    }
}

/// Why the run did not start, as the form shows it.
#[derive(Debug, Clone, PartialEq)]
enum SubmitError {
    /// The gateway refused the run: the role or a policy rule (403 on REST; on the WebSocket an
    /// `error` whose message names the rule, e.g. ``denied by policy rule `privileged`: …``).
    Denied(String),
    Other(String),
}

impl SubmitError {
    fn from_failure(code: i64, message: String) -> SubmitError {
        if message.starts_with("denied by policy")
            || message.contains("may not run")
            || message.starts_with("role ")
        {
            SubmitError::Denied(message)
        } else {
            SubmitError::Other(format::error_status(code, &message))
        }
    }

    fn view(self) -> AnyView {
        match self {
            SubmitError::Denied(message) => view! {
                <div class="callout bad denied" role="alert" data-testid="submit-error">
                    <strong>"Not allowed. "</strong>
                    <span data-testid="denial-message">{message}</span>
                    <span class="sub">
                        "Nothing was created. Change the options, or ask an admin about the policy."
                    </span>
                </div>
            }
            .into_any(),
            SubmitError::Other(message) => view! {
                <p class="callout bad" role="alert" data-testid="submit-error">{message}</p>
            }
            .into_any(),
        }
    }
}

fn field_id(label: &str) -> String {
    format!("f-{}", label.to_lowercase().replace(' ', "-"))
}

/// A labelled text field of the form, editing `value`; `lines` makes it a textarea (a value a
/// line: env, ports, volumes).
#[component]
fn Field(
    label: &'static str,
    hint: &'static str,
    value: RwSignal<String>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
    #[prop(optional)] wide: bool,
    #[prop(optional)] lines: bool,
) -> impl IntoView {
    let id = field_id(label);
    let input = move |e: ev::Event| {
        value.set(event_target_value(&e));
        on_change();
    };
    let control = if lines {
        view! {
            <textarea id=id.clone() class="mono" rows="2" spellcheck="false" placeholder=hint
                prop:value=value on:input=input></textarea>
        }
        .into_any()
    } else {
        view! {
            <input id=id.clone() type="text" class="mono" spellcheck="false" autocomplete="off"
                autocapitalize="off" placeholder=hint prop:value=value on:input=input/>
        }
        .into_any()
    };
    view! {
        <div class="field" class:wide=wide>
            <label for=id>{label}</label>
            {control}
        </div>
    }
}

#[component]
fn Check(
    label: &'static str,
    flag: &'static str,
    hint: &'static str,
    value: RwSignal<bool>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <label class="check-field" title=hint>
            <input
                type="checkbox"
                prop:checked=value
                on:change=move |e| {
                    value.set(event_target_checked(&e));
                    on_change();
                }
            />
            <span>{label} " " <code>{flag}</code></span>
            <small>{hint}</small>
        </label>
    }
}
