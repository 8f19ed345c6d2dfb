//! Pull progress, folded per image layer: the daemon sends one line per step of each layer
//! (downloading, verifying, extracting, complete) and a few about no layer ("Digest: …"). The
//! page shows a bar per layer and those other lines once each; a replay after a reconnect sends
//! them all again and changes nothing.

use berth_shared::wire::PullProgress;
use leptos::prelude::*;

use super::Session;

/// One image layer of a pull.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub id: String,
    pub status: String,
    /// Progress of the current step (download, then extraction), 0.0 to 1.0.
    pub fraction: f64,
    /// Bytes downloaded and the layer's size, once the daemon said.
    pub downloaded: u64,
    pub size: Option<u64>,
    pub done: bool,
}

impl Layer {
    fn new(id: String) -> Layer {
        Layer {
            id,
            status: String::new(),
            fraction: 0.0,
            downloaded: 0,
            size: None,
            done: false,
        }
    }

    /// Takes one progress line about this layer.
    fn update(&mut self, p: PullProgress) {
        if self.done {
            return; // a replay after a reconnect: this layer's progress is all shown
        }
        let step = match (p.current, p.total) {
            (Some(c), Some(t)) if t > 0 => Some((c as f64 / t as f64).min(1.0)),
            _ => None,
        };
        match p.status.as_str() {
            "Downloading" => {
                self.downloaded = p.current.unwrap_or(self.downloaded);
                self.size = p.total.or(self.size);
                self.fraction = step.unwrap_or(self.fraction);
            }
            "Verifying Checksum" | "Download complete" => {
                if let Some(size) = self.size {
                    self.downloaded = size;
                }
                self.fraction = 1.0;
            }
            "Extracting" => self.fraction = step.unwrap_or(0.0),
            "Pull complete" | "Already exists" => {
                self.fraction = 1.0;
                self.done = true;
            }
            _ => {}
        }
        self.status = p.status;
    }
}

/// Whether a progress line is about a layer: its id is a short layer ID (12 hex digits), not
/// a tag or empty.
fn is_layer(p: &PullProgress) -> bool {
    p.id.len() == 12 && p.id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `p` in `layers`: the layer's bar, added the first time it is named.
fn fold(layers: &mut Vec<Layer>, p: PullProgress) {
    let at = match layers.iter().position(|l| l.id == p.id) {
        Some(at) => at,
        None => {
            layers.push(Layer::new(p.id.clone()));
            layers.len() - 1
        }
    };
    layers[at].update(p);
}

impl Session {
    pub(super) fn pull(&self, p: PullProgress) {
        if is_layer(&p) {
            self.layers.update(|layers| fold(layers, p));
            return;
        }
        let line = if p.id.is_empty() {
            p.status
        } else {
            format!("{}: {}", p.id, p.status)
        };
        self.pull_lines.update(|l| {
            if !l.contains(&line) {
                l.push(line);
            }
        });
    }
}
