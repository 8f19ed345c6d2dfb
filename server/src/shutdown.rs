//! Stopping gracefully (SIGTERM): the connection loop stops accepting and lets the requests in
//! flight finish, and every WebSocket closes with 1001 "going away", so that browsers
//! reconnect once Berth is back instead of taking the end of the socket for the end of the run.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// How long requests in flight and WebSockets' last words may take once Berth is stopping.
pub const GRACE: Duration = Duration::from_secs(10);

/// The close reason WebSockets get when Berth stops.
pub const GOING_AWAY: &str = "Berth is stopping";

/// Shared by the connection loop and every WebSocket handler.
#[derive(Clone, Default)]
pub struct Shutdown {
    stopping: CancellationToken,
    /// Connections and WebSockets still open: waited for (within [`GRACE`]) before exiting.
    open: TaskTracker,
}

impl Shutdown {
    /// Completes once Berth is stopping.
    pub async fn stopping(&self) {
        self.stopping.cancelled().await
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Held by a connection or a WebSocket for as long as it is open.
    pub fn hold(&self) -> TaskTrackerToken {
        self.open.token()
    }

    /// Tells everyone to stop, then waits (at most `grace`) until they have; whether they all
    /// did.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.stopping.cancel();
        self.open.close();
        tokio::time::timeout(grace, self.open.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_waits_for_holders_within_the_grace() {
        let shutdown = Shutdown::default();
        let quick = shutdown.hold();
        let waiter = shutdown.clone();
        tokio::spawn(async move {
            waiter.stopping().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(quick);
        });
        assert!(
            shutdown.stop(Duration::from_secs(5)).await,
            "the holder let go after 100 ms"
        );

        let shutdown = Shutdown::default();
        let _stuck = shutdown.hold();
        assert!(
            !shutdown.stop(Duration::from_millis(100)).await,
            "a holder that never lets go"
        );
    }
}
