//! Bindings to `js/terminal.js`, the xterm.js wrapper. Output goes straight from the WebSocket's
//! buffers into xterm, never into Leptos signals: a run may print millions of bytes.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/terminal.js")]
extern "C" {
    pub type BerthTerminal;

    #[wasm_bindgen(constructor)]
    pub fn new() -> BerthTerminal;

    #[wasm_bindgen(method)]
    pub fn mount(this: &BerthTerminal, parent: &web_sys::Element);

    #[wasm_bindgen(method)]
    pub fn refit(this: &BerthTerminal);

    /// Output bytes (a view into the WebSocket frame; the wrapper copies them).
    #[wasm_bindgen(method)]
    pub fn write(this: &BerthTerminal, bytes: &js_sys::Uint8Array, stderr: bool);

    #[wasm_bindgen(method, js_name = writeText)]
    pub fn write_text(this: &BerthTerminal, text: &str);

    #[wasm_bindgen(method, js_name = setTty)]
    pub fn set_tty(this: &BerthTerminal, tty: bool);

    #[wasm_bindgen(method, js_name = setInput)]
    pub fn set_input(this: &BerthTerminal, enabled: bool);

    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &BerthTerminal, callback: &Closure<dyn FnMut(String)>);

    #[wasm_bindgen(method, js_name = onResize)]
    pub fn on_resize(this: &BerthTerminal, callback: &Closure<dyn FnMut(u16, u16)>);

    #[wasm_bindgen(method)]
    pub fn cols(this: &BerthTerminal) -> u16;

    #[wasm_bindgen(method)]
    pub fn rows(this: &BerthTerminal) -> u16;

    #[wasm_bindgen(method)]
    pub fn focus(this: &BerthTerminal);

    /// Empties the terminal (and what is queued for it), as new.
    #[wasm_bindgen(method)]
    pub fn clear(this: &BerthTerminal);

    #[wasm_bindgen(method)]
    pub fn text(this: &BerthTerminal) -> String;

    #[wasm_bindgen(method)]
    pub fn dispose(this: &BerthTerminal);
}
