//! The raw Engine API floor: the same create, attach, wait, start and output read Berth and the
//! CLI perform, in this process over the socket, with nothing in between.

use std::time::{Duration, Instant};

use berth_server::engine::{AttachOptions, Engine, WaitCondition};
use berth_shared::{argv, plan};

use crate::consume::Consumer;

pub struct FloorRun {
    pub consumer: Consumer,
    pub elapsed: Duration,
    pub exit_code: i64,
}

pub async fn run(engine: &Engine, args: &[&str]) -> Result<FloorRun, String> {
    let plan =
        plan::build(&argv::parse(args).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    // The create request as Berth sends it, for the API version in use.
    let version = engine.api_version().await.map_err(|e| e.message())?;
    let body = plan.create_json(&version).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut consumer = Consumer::new(started);
    let created = engine
        .create_container(None, None, &body)
        .await
        .map_err(|e| e.message())?;
    let opts = AttachOptions {
        stdout: true,
        stderr: true,
        ..AttachOptions::default()
    };
    let mut attached = engine
        .attach(&created.id, &opts)
        .await
        .map_err(|e| e.message())?;
    let condition = if plan.auto_remove() {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = engine
        .wait(&created.id, condition)
        .await
        .map_err(|e| e.message())?;
    engine.start(&created.id).await.map_err(|e| e.message())?;
    while let Some(frame) = attached.output.next().await.map_err(|e| e.message())? {
        consumer.take(&frame.data);
    }
    let exit_code = wait.status().await.map_err(|e| e.message())?;
    Ok(FloorRun {
        consumer,
        elapsed: started.elapsed(),
        exit_code,
    })
}
