//! The run page's view inside its running container: a Console button (a shell in a new tab,
//! for who may act on the run) and the live CPU and memory charts. Shown while the run runs.

use berth_shared::argv;
use leptos::prelude::*;

use crate::engines;
use crate::pages::console::ConsoleButton;
use crate::session::{Phase, Session};
use crate::stats::LiveStats;

#[component]
pub fn RunInside(session: Session) -> impl IntoView {
    let phase = session.phase.clone();
    let info = session.info.clone();
    // (engine, container, whether it has a memory limit of its own), while it runs.
    let running = Memo::new(move |_| {
        if phase.get() != Phase::Running {
            return None;
        }
        info.with(|i| {
            let i = i.as_ref()?;
            let container = i.container_id.clone()?;
            let has_limit = argv::parse(&i.argv)
                .ok()
                .is_some_and(|spec| spec.memory.is_some());
            Some((engines::of_run(&i.engine), container, has_limit))
        })
    });
    move || {
        running.get().map(|(engine, container, has_limit)| {
            let short = crate::format::short_id(&container).to_string();
            view! {
                <div class="run-inside" data-testid="run-inside">
                    <div class="run-inside-actions">
                        <ConsoleButton engine=engine.clone() container=container.clone() label=format!("container {short}")/>
                    </div>
                    <LiveStats container=container engine=engine has_limit=has_limit/>
                </div>
            }
        })
    }
}
