//! "Copy as docker run", "Copy link" and a new token's "Copy", over plain http too (see
//! `js/clipboard.js`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/clipboard.js")]
extern "C" {
    #[wasm_bindgen(js_name = copyText)]
    fn copy_text(text: &str) -> js_sys::Promise;
}

/// Copies `text`; whether it worked.
pub async fn copy(text: &str) -> bool {
    wasm_bindgen_futures::JsFuture::from(copy_text(text))
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Copies `text` and, when that worked, sets `copied` for a moment: the button that asked says
/// "Copied ✓" meanwhile ("Copy as docker run", "Copy link", a new token's "Copy").
pub fn copy_and_flash(text: String, copied: leptos::prelude::RwSignal<bool>) {
    use leptos::prelude::{Set, set_timeout};
    leptos::task::spawn_local(async move {
        if copy(&text).await {
            copied.set(true);
            set_timeout(
                move || copied.set(false),
                std::time::Duration::from_millis(1800),
            );
        }
    });
}
