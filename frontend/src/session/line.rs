//! Keys typed into the terminal. With a TTY they go to the container as they are. Without one,
//! the page does what a terminal's line discipline does for `docker run -i`: echo, backspace,
//! send the line on Enter, Ctrl-D for end of input, Ctrl-C to interrupt. [`Line`] is that
//! editor, pure; [`Session::input`] shows and sends what it says.

use berth_shared::wire::ClientMessage;
use leptos::prelude::*;

use super::{Phase, Session};

/// The line being typed, not sent yet.
#[derive(Default)]
pub(super) struct Line {
    text: String,
}

/// What one key does to the line, for the terminal and the container to see.
#[derive(Debug, PartialEq)]
enum Edit {
    /// A character added to the line: echo it.
    Echo(char),
    /// Backspace took a character off the line: erase it on screen too.
    Erase,
    /// Enter: a new line on screen, and the line with its `\n` to the container.
    Enter(String),
    /// Ctrl-D after some text: the text to the container as it is, no newline.
    Flush(String),
    /// Ctrl-D on an empty line: end of input.
    EndOfInput,
    /// Ctrl-C: the line is dropped and the container interrupted.
    Interrupt,
}

impl Line {
    /// What `key` does; `None` for keys the editor ignores (other control characters).
    fn key(&mut self, key: char) -> Option<Edit> {
        match key {
            '\r' | '\n' => {
                let mut line = std::mem::take(&mut self.text);
                line.push('\n');
                Some(Edit::Enter(line))
            }
            '\x7f' | '\x08' => self.text.pop().map(|_| Edit::Erase),
            '\x04' => {
                let line = std::mem::take(&mut self.text);
                Some(if line.is_empty() {
                    Edit::EndOfInput
                } else {
                    Edit::Flush(line)
                })
            }
            '\x03' => {
                self.text.clear();
                Some(Edit::Interrupt)
            }
            c if !c.is_control() => {
                self.text.push(c);
                Some(Edit::Echo(c))
            }
            _ => None,
        }
    }

    /// Forgets what was typed (the terminal was cleared).
    pub(super) fn clear(&mut self) {
        self.text.clear();
    }
}

impl Session {
    /// Keys typed into the terminal (its `onData`), while the run takes input.
    pub(super) fn input(&self, data: &str) {
        let mode = self.mode.get_untracked();
        if !mode.interactive || self.phase.get_untracked() != Phase::Running {
            return;
        }
        if mode.tty {
            self.send_stdin(data.as_bytes());
            return;
        }
        if data.starts_with('\x1b') {
            return; // arrow keys and the like: no line editing beyond backspace
        }
        let term = &self.inner.term;
        for c in data.chars() {
            let edit = self.inner.state.borrow_mut().line.key(c);
            match edit {
                Some(Edit::Echo(c)) => {
                    let mut buf = [0; 4];
                    term.write_text(c.encode_utf8(&mut buf));
                }
                Some(Edit::Erase) => term.write_text("\x08 \x08"),
                Some(Edit::Enter(line)) => {
                    term.write_text("\r\n");
                    self.send_stdin(line.as_bytes());
                }
                Some(Edit::Flush(line)) => self.send_stdin(line.as_bytes()),
                Some(Edit::EndOfInput) => self.send(&ClientMessage::CloseStdin),
                Some(Edit::Interrupt) => {
                    term.write_text("^C\r\n");
                    self.signal("INT");
                }
                None => {}
            }
        }
    }
}
