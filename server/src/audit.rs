//! The audit log: who did what, to what, with what outcome and why. Every action is an
//! [`Action`], so the log's vocabulary is written in one place.

use crate::app::AppState;
use crate::auth::Principal;
use crate::store::AuditEntry;

/// What was done (the log's `action` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An unauthenticated request was refused.
    Auth,
    Login,
    Logout,
    UserCreate,
    UserDelete,
    TokenCreate,
    TokenDelete,
    RunCreate,
    RunStop,
    RunKill,
    RunDelete,
    ContainerStop,
    ContainerKill,
    ContainerRemove,
    ContainerAttach,
    ContainerExec,
    TemplateCreate,
    TemplateUpdate,
    TemplateDelete,
    SessionStart,
    SessionExtend,
    SessionEnd,
    RegistryCreate,
    RegistryDelete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Auth => "auth",
            Action::Login => "login",
            Action::Logout => "logout",
            Action::UserCreate => "user.create",
            Action::UserDelete => "user.delete",
            Action::TokenCreate => "token.create",
            Action::TokenDelete => "token.delete",
            Action::RunCreate => "run.create",
            Action::RunStop => "run.stop",
            Action::RunKill => "run.kill",
            Action::RunDelete => "run.delete",
            Action::ContainerStop => "container.stop",
            Action::ContainerKill => "container.kill",
            Action::ContainerRemove => "container.remove",
            Action::ContainerAttach => "container.attach",
            Action::ContainerExec => "container.exec",
            Action::TemplateCreate => "template.create",
            Action::TemplateUpdate => "template.update",
            Action::TemplateDelete => "template.delete",
            Action::SessionStart => "session.start",
            Action::SessionExtend => "session.extend",
            Action::SessionEnd => "session.end",
            Action::RegistryCreate => "registry.create",
            Action::RegistryDelete => "registry.delete",
        }
    }
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

impl AppState {
    /// Appends to the audit log. A failure to record is logged, never hidden.
    pub async fn audit(
        &self,
        who: &Principal,
        action: Action,
        target: &str,
        outcome: Outcome,
        detail: &str,
    ) {
        self.append_audit(&who.username, action, target, outcome, detail, &who.remote)
            .await;
    }

    /// Audits a denial of an unauthenticated request.
    pub async fn audit_anonymous(&self, action: Action, target: &str, detail: &str, remote: &str) {
        self.append_audit("-", action, target, Outcome::Denied, detail, remote)
            .await;
    }

    pub(crate) async fn append_audit(
        &self,
        actor: &str,
        action: Action,
        target: &str,
        outcome: Outcome,
        detail: &str,
        remote: &str,
    ) {
        let entry = AuditEntry {
            id: 0,
            at: crate::time::rfc3339_now(),
            actor: actor.into(),
            action: action.as_str().into(),
            target: target.into(),
            outcome: outcome.as_str().into(),
            detail: detail.into(),
            remote: remote.into(),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(
                "audit log: {e}: {actor} {} {target} {}",
                action.as_str(),
                outcome.as_str()
            );
        }
    }
}
