//! Light and dark themes: the system's choice by default (`color-scheme` in style/),
//! or the user's, remembered in localStorage and applied as `<html data-theme>`.

use leptos::prelude::*;

const KEY: &str = "berth.theme";

fn stored() -> Option<String> {
    window().local_storage().ok()??.get_item(KEY).ok()?
}

fn apply(theme: Option<&str>) {
    if let Some(root) = document().document_element() {
        let _ = match theme {
            Some(t) => root.set_attribute("data-theme", t),
            None => root.remove_attribute("data-theme"),
        };
    }
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = match theme {
            Some(t) => s.set_item(KEY, t),
            None => s.remove_item(KEY),
        };
    }
}

/// Applies the remembered theme before the first paint of the app.
pub fn init() {
    apply(stored().as_deref());
}

#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(stored());
    let next = move |_| {
        let new = match theme.get_untracked().as_deref() {
            None => Some("dark"),
            Some("dark") => Some("light"),
            _ => None,
        };
        apply(new);
        theme.set(new.map(str::to_string));
    };
    let label = move || match theme.get().as_deref() {
        Some("dark") => "Dark",
        Some("light") => "Light",
        _ => "Auto",
    };
    view! {
        <button
            class="btn ghost theme"
            data-testid="theme-toggle"
            on:click=next
            title="Theme: automatic, dark or light"
        >
            // Named by its words, so that what it shows is part of its name (WCAG 2.5.3);
            // at phone width the words are hidden from sight only.
            <span class="visually-hidden">"Theme: "</span>
            <span aria-hidden="true">{move || match theme.get().as_deref() {
                Some("dark") => "☾",
                Some("light") => "☀",
                _ => "◐",
            }}</span>
            <span class="theme-label">{label}</span>
            <span class="visually-hidden">". Change theme"</span>
        </button>
    }
}
