//! Defining, replacing and deleting templates (admins), each checked as its sessions will be.

use berth_shared::reference::ImageSpec;
use berth_shared::wire::{EndedReason, Template, TemplateRequest};

use super::{Entry, StoredTemplate, pool_owner, validate};
use crate::admission::Refusal;
use crate::app::AppState;
use crate::audit::{Action, Outcome};
use crate::auth::Principal;
use crate::policy::Denial;
use crate::time::rfc3339_now;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the image {image} could not be pulled: {message}")]
    Pull { image: String, message: String },
    #[error("a template named {0} exists already")]
    Exists(String),
    #[error("no such template: {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl AppState {
    pub async fn create_template(
        &self,
        admin: &Principal,
        req: TemplateRequest,
    ) -> Result<Template, TemplateError> {
        let _one_at_a_time = self.demo.changes.lock().await;
        if self.demo.template(&req.name).is_some() {
            return Err(TemplateError::Exists(req.name));
        }
        let now = rfc3339_now();
        let stored = self.checked_template(req, now.clone(), now).await?;
        let name = stored.name().to_string();
        // Stored first: a template the store did not take would be gone after a restart.
        self.save_template(&stored).await?;
        self.demo
            .lock()
            .templates
            .insert(name.clone(), Entry::new(stored.clone()));
        self.audit(admin, Action::TemplateCreate, &name, Outcome::Ok, "")
            .await;
        self.demo.wake();
        Ok(self.demo.view(&name).expect("just inserted"))
    }

    /// Replaces a template: running sessions keep their terms, the pool is rebuilt.
    pub async fn update_template(
        &self,
        admin: &Principal,
        name: &str,
        req: TemplateRequest,
    ) -> Result<Template, TemplateError> {
        let _one_at_a_time = self.demo.changes.lock().await;
        if req.name != name {
            return Err(TemplateError::Invalid(format!(
                "the body names the template {:?}, the route {name:?}: a template is not renamed",
                req.name
            )));
        }
        let created = self
            .demo
            .template(name)
            .ok_or_else(|| TemplateError::NotFound(name.into()))?
            .created_at;
        let stored = self.checked_template(req, created, rfc3339_now()).await?;
        self.save_template(&stored).await?;
        let drained = {
            let mut state = self.demo.lock();
            let entry = state
                .templates
                .get_mut(name)
                .ok_or_else(|| TemplateError::NotFound(name.into()))?;
            entry.stored = stored.clone();
            entry.generation += 1;
            entry.pool_failed_at = None;
            std::mem::take(&mut entry.ready)
        };
        self.discard_pool_runs(drained);
        self.audit(admin, Action::TemplateUpdate, name, Outcome::Ok, "")
            .await;
        self.demo.wake();
        Ok(self.demo.view(name).expect("still there"))
    }

    /// Deletes a template: its sessions end, its pool is drained.
    pub async fn delete_template(
        &self,
        admin: &Principal,
        name: &str,
    ) -> Result<(), TemplateError> {
        let _one_at_a_time = self.demo.changes.lock().await;
        let (drained, sessions) = {
            let mut state = self.demo.lock();
            let entry = state
                .templates
                .remove(name)
                .ok_or_else(|| TemplateError::NotFound(name.into()))?;
            let sessions: Vec<String> = state
                .sessions
                .values()
                .filter(|s| s.template == name && s.is_live())
                .map(|s| s.id.clone())
                .collect();
            (entry.ready, sessions)
        };
        for id in sessions {
            self.end_session(&id, EndedReason::Ended).await;
        }
        self.discard_pool_runs(drained);
        if let Err(e) = self.store.delete_template(name).await {
            tracing::warn!(template = name, "deleting the template from the store: {e}");
        }
        self.audit(admin, Action::TemplateDelete, name, Outcome::Ok, "")
            .await;
        Ok(())
    }

    /// A template request as stored once it passed every check its sessions will face: its
    /// numbers, its command parsed and planned, the `[guest]` rules when public (with their
    /// `max_run_seconds` over its `max_ttl_seconds`), and its image on the engine it places on
    /// (pulled now when missing).
    async fn checked_template(
        &self,
        mut req: TemplateRequest,
        created_at: String,
        updated_at: String,
    ) -> Result<StoredTemplate, TemplateError> {
        validate(&req).map_err(TemplateError::Invalid)?;
        req.max_ttl_seconds = Some(req.max_ttl_seconds.unwrap_or(req.ttl_seconds));
        let stored = StoredTemplate {
            request: req,
            created_at,
            updated_at,
        };
        let admitted = self
            .admit_template(&stored, &pool_owner(stored.name()), false)
            .await?;
        if stored.is_public()
            && let Some(max) = self
                .policy
                .for_role(berth_shared::wire::Role::Guest)
                .max_run_seconds()
            && stored.max_ttl() > max
        {
            return Err(Refusal::Denied(Denial {
                rule: "max_run_seconds",
                message: format!(
                    "guests' runs last at most {max} s; max_ttl_seconds is {}",
                    stored.max_ttl()
                ),
            })
            .into());
        }
        let engine = &admitted.engine.engine;
        let image = admitted.plan.body.image.clone().unwrap_or_default();
        match engine.inspect_image(&image).await {
            Ok(()) => {}
            Err(e) if e.status() == Some(404) => {
                let ImageSpec::Named(named) = &admitted.plan.image else {
                    return Err(TemplateError::Invalid(format!("no such image: {image}")));
                };
                let failed = |e: crate::engine::EngineError| TemplateError::Pull {
                    image: image.clone(),
                    message: e.message(),
                };
                let platform = admitted.plan.platform.as_deref();
                let mut progress = engine
                    .pull(
                        &named.name(),
                        named.api_tag(),
                        platform,
                        admitted.registry_auth.as_deref(),
                    )
                    .await
                    .map_err(failed)?;
                while progress.next().await.map_err(failed)?.is_some() {}
                tracing::info!(template = stored.name(), %image, "pulled the template's image");
            }
            Err(e) => return Err(Refusal::Engine(e).into()),
        }
        Ok(stored)
    }

    async fn save_template(&self, stored: &StoredTemplate) -> Result<(), TemplateError> {
        let body = serde_json::to_string(stored).expect("templates serialise");
        Ok(self.store.save_template(stored.name(), body).await?)
    }
}
