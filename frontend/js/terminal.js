// The dashboard's glue to xterm.js (bundled from npm into dist/vendor by Trunk, loaded from the
// same origin). Kept in JavaScript because it is all calls into xterm's JS API: batching writes
// per animation frame and fitting the terminal to its box are cheaper here than across the
// wasm boundary.
import { Terminal } from "/vendor/xterm.mjs";
import { FitAddon } from "/vendor/addon-fit.mjs";

const STDERR_ON = new TextEncoder().encode("\x1b[38;5;209m");
const STDERR_OFF = new TextEncoder().encode("\x1b[39m");

export class BerthTerminal {
  constructor() {
    this.term = new Terminal({
      scrollback: 100000,
      convertEol: true,
      cursorBlink: false,
      disableStdin: true,
      fontSize: 13,
      lineHeight: 1.15,
      fontFamily: 'ui-monospace, "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, monospace',
      theme: {
        background: "#0b0f14",
        foreground: "#d6dde6",
        cursor: "#8ab4f8",
        selectionBackground: "#2b4a73",
      },
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.queue = [];
    this.queued = 0;
    this.scheduled = false;
    this.opened = false;
    // The host moves between views; xterm renders into it once and stays inside.
    this.host = document.createElement("div");
    this.host.className = "term-host";
    this.host.__berth = this;
    this.observer = new ResizeObserver(() => this.refit());
    this.term.attachCustomKeyEventHandler((e) => this.key(e));
  }

  /// Keys that are the page's, not the terminal's (false: xterm leaves them alone). xterm keeps
  /// Tab for itself, so a keyboard could never get past the terminal: Tab is the page's while
  /// the terminal takes no input (no -i, or the run ended); and Ctrl+Shift+Down / Ctrl+Shift+Up
  /// (which neither browsers nor terminal programs use) always move focus to the next / the
  /// previous control outside the terminal. The page shows this next to the terminal.
  key(e) {
    if (e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey
        && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      if (e.type === "keydown") {
        e.preventDefault();
        this.leave(e.key === "ArrowDown");
      }
      return false;
    }
    return !(e.key === "Tab" && this.term.options.disableStdin);
  }

  /// Focuses the first control after the terminal (`forward`) or the last one before it.
  leave(forward) {
    const controls = [...document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")]
      .filter((el) => !el.contains(this.host) && !this.host.contains(el) && !el.disabled
        && el.tabIndex >= 0 && el.getClientRects().length > 0);
    const after = (el) => this.host.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
    const target = forward ? controls.find(after) : controls.reverse().find((el) => !after(el));
    if (target) {
      target.focus();
    } else {
      this.term.blur();
    }
  }

  /// Puts the terminal into `parent` (a mounted element) and sizes it to fit.
  mount(parent) {
    parent.appendChild(this.host);
    if (!this.opened) {
      this.term.open(this.host);
      this.opened = true;
    }
    this.observer.observe(this.host);
    this.refit();
  }

  refit() {
    if (this.opened && this.host.offsetParent !== null) {
      try {
        this.fit.fit();
      } catch (_) {
        // Not measurable yet (hidden); the next resize fits it.
      }
    }
  }

  /// Queues output; everything queued within one frame reaches xterm as one write, so a flood
  /// of small frames costs one parse and one render per frame instead of thousands.
  write(bytes, stderr) {
    if (stderr) {
      this.queue.push(STDERR_ON, bytes.slice(), STDERR_OFF);
    } else {
      this.queue.push(bytes.slice());
    }
    this.queued += bytes.length;
    if (!this.scheduled) {
      this.scheduled = true;
      const flush = () => this.flush();
      requestAnimationFrame(flush);
      // Background tabs get no animation frames; do not let output pile up there.
      setTimeout(flush, 250);
    }
  }

  writeText(text) {
    this.write(new TextEncoder().encode(text), false);
  }

  flush() {
    if (!this.scheduled) return;
    this.scheduled = false;
    const chunks = this.queue;
    this.queue = [];
    let len = 0;
    for (const c of chunks) len += c.length;
    const data = new Uint8Array(len);
    let at = 0;
    for (const c of chunks) {
      data.set(c, at);
      at += c.length;
    }
    this.queued = 0;
    this.term.write(data);
  }

  setTty(tty) {
    // Without a TTY the container writes bare "\n"; a terminal needs "\r\n".
    this.term.options.convertEol = !tty;
  }

  setInput(enabled) {
    this.term.options.disableStdin = !enabled;
    this.term.options.cursorBlink = enabled;
  }

  onData(callback) {
    this.term.onData(callback);
  }

  onResize(callback) {
    this.term.onResize(({ cols, rows }) => callback(cols, rows));
  }

  cols() {
    return this.term.cols;
  }

  rows() {
    return this.term.rows;
  }

  focus() {
    this.term.focus();
  }

  clear() {
    this.queue = [];
    this.term.reset();
  }

  /// The whole buffer as text, scrollback included (for tests and "copy output").
  text() {
    const buffer = this.term.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) {
      lines.push(buffer.getLine(i).translateToString(true));
    }
    return lines.join("\n").replace(/\n+$/, "");
  }

  dispose() {
    this.observer.disconnect();
    this.term.dispose();
    this.host.remove();
  }
}
