//! Berth's dashboard: run containers the way `docker run` does, watch them in a real terminal,
//! share a run by its URL, and manage containers and images. Talks only to the gateway's API
//! (docs/API.md) on the same origin.

mod api;
mod app;
mod clipboard;
mod command;
mod engines;
mod format;
mod pages;
mod route;
mod session;
mod stats;
mod terminal;
mod theme;

fn main() {
    theme::init();
    leptos::mount::mount_to_body(app::App);
}
