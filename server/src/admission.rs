//! Whether a run may go ahead, and as whose: the request made into a plan, the role, the
//! policy (with one round of engine look-ups for the containers and volumes the request
//! names), and the owner's limits (runs in progress, runs per minute). A refusal of a valid
//! request is audited with its rule.
//!
//! "Yours", for a request that names another container or a volume, is what passed the rules
//! in force as a request of yours or your team's (`Principal::may_use`): an admin's
//! containers and volumes were never checked, so they count for nobody else.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_shared::models::MountType;
use berth_shared::plan::{self, Plan};
use berth_shared::wire::{Role, RunRequest};
use berth_shared::{Owner, RunLabels, argv, spec::RunSpec};
use tokio::sync::OwnedMutexGuard;

use crate::app::AppState;
use crate::audit::{Action, Outcome};
use crate::auth::Principal;
use crate::demo::StoredTemplate;
use crate::engine::{Engine, EngineError, VolumeCreate};
use crate::engines::Member;
use crate::policy::{Denial, ExistingVolume, Facts, Lookups, MayNotRun, RolePolicy};
use crate::run::Run;

/// Why a run may not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The request is not a valid `docker run`.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    MayNotRun(#[from] MayNotRun),
    #[error(transparent)]
    Denied(#[from] Denial),
    /// Over the owner's runs in progress or runs per minute.
    #[error("{0}")]
    Limit(String),
    /// The engine could not be asked what the check needs.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No engine can take the run now (each considered, and why not).
    #[error("{0}")]
    NoEngine(String),
}

/// A run that may start: its plan with the policy's defaults, the argv it is recorded with,
/// its owner and, under a run-time limit, when its container is stopped (Unix seconds).
pub struct Admitted {
    pub plan: Plan,
    /// Where it runs: named in the request, or placed.
    pub engine: Arc<Member>,
    pub argv: Vec<String>,
    pub owner: Owner,
    pub deadline: Option<i64>,
    /// `X-Registry-Auth` for its pulls: the owner's team's credential for the image's
    /// registry, else a global one.
    pub registry_auth: Option<String>,
    /// Held until the run is registered, so that runs of a role with a concurrency limit are
    /// counted one after the other (two at once would both see room for one).
    _turn: Option<OwnedMutexGuard<()>>,
}

/// A plan that passed the rules on the engine it was placed on.
struct Checked {
    engine: Arc<Member>,
    defaults: crate::policy::Defaults,
    volumes: HashMap<String, ExistingVolume>,
}

impl Checked {
    /// Fills in the policy's defaults and creates the named volumes the plan mounts that do
    /// not exist yet, labelled as `owner`'s.
    async fn apply(
        self,
        plan: &mut Plan,
        owner: &Owner,
        rules: &RolePolicy,
    ) -> Result<(), Refusal> {
        self.defaults.apply(plan);
        if rules.checks_requests() {
            create_volumes(&self.engine.engine, plan, &self.volumes, owner).await?;
        }
        Ok(())
    }
}

impl AppState {
    /// Admits `req` by `user`, or refuses it (audited, unless the request was invalid).
    pub async fn admit(&self, user: &Principal, req: &RunRequest) -> Result<Admitted, Refusal> {
        let (mut plan, argv) = plan_for(req)?;
        match self.admit_plan(user, req, &mut plan).await {
            Ok((engine, owner, max_seconds, turn)) => Ok(Admitted {
                registry_auth: self.registry_auth(&plan, &user.team, user.is_admin())?,
                plan,
                engine,
                argv,
                owner,
                deadline: max_seconds.map(|s| crate::time::unix_now() + s as i64),
                _turn: turn,
            }),
            Err(e) => {
                if let Refusal::Denied(d) = &e {
                    crate::metrics::policy_denial(d.rule);
                    crate::metrics::run_finished("denied");
                }
                let image = plan.body.image.clone().unwrap_or_default();
                self.audit(
                    user,
                    Action::RunCreate,
                    &image,
                    Outcome::Denied,
                    &e.to_string(),
                )
                .await;
                Err(e)
            }
        }
    }

    /// Starts an admitted run.
    pub fn launch(&self, admitted: Admitted, start: bool) -> Arc<Run> {
        self.runs.launch(
            admitted.plan,
            admitted.argv,
            start,
            &admitted.owner,
            admitted.deadline,
            &admitted.engine,
            admitted.registry_auth,
        )
    }

    /// The credential a run of `plan` by a user in `team` pulls with (see `registries`).
    pub fn registry_auth(
        &self,
        plan: &Plan,
        team: &str,
        admin: bool,
    ) -> Result<Option<String>, Refusal> {
        let berth_shared::reference::ImageSpec::Named(image) = &plan.image else {
            return Ok(None);
        };
        self.registries
            .auth_for(&image.domain, team, admin)
            .map_err(|e| Refusal::Invalid(e.to_string()))
    }

    /// Whether `user` may attach to a container (`docker attach`): an attach is a run of
    /// theirs and counts against the same limits. Returns the attach run's owner and the turn
    /// to hold until it is registered.
    pub async fn admit_attach(
        &self,
        user: &Principal,
        container: &str,
    ) -> Result<(Owner, Option<OwnedMutexGuard<()>>), Refusal> {
        let rules = self.policy.for_user(user.role, &user.team);
        let result = match rules.allows_running(user.role) {
            Ok(()) => self.check_limits(user, rules).await,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(turn) => Ok((user.owner(self.checked_under(rules)), turn)),
            Err(e) => {
                let detail = e.to_string();
                self.audit(
                    user,
                    Action::ContainerAttach,
                    container,
                    Outcome::Denied,
                    &detail,
                )
                .await;
                Err(e)
            }
        }
    }

    /// The digest of the rules a request of this role is checked under; `None` for roles
    /// whose requests are not checked (admins).
    fn checked_under(&self, rules: &RolePolicy) -> Option<&str> {
        self.policy.digest().filter(|_| rules.checks_requests())
    }

    #[allow(clippy::type_complexity)]
    async fn admit_plan(
        &self,
        user: &Principal,
        req: &RunRequest,
        plan: &mut Plan,
    ) -> Result<(Arc<Member>, Owner, Option<u64>, Option<OwnedMutexGuard<()>>), Refusal> {
        let rules = self.policy.for_user(user.role, &user.team);
        rules.allows_running(user.role)?;
        let checked = self.check_plan(user, rules, req, plan).await?;
        let turn = self.check_limits(user, rules).await?;
        let owner = user.owner(self.checked_under(rules));
        let engine = Arc::clone(&checked.engine);
        checked.apply(plan, &owner, rules).await?;
        Ok((engine, owner, rules.max_run_seconds(), turn))
    }

    /// Places the run and checks its plan against `rules` on that engine: what passed, with
    /// the defaults and volumes still to apply ([`Checked::apply`]).
    async fn check_plan(
        &self,
        user: &Principal,
        rules: &RolePolicy,
        req: &RunRequest,
        plan: &Plan,
    ) -> Result<Checked, Refusal> {
        let member = self.place(rules, req)?;
        let engine = &member.engine;
        let policy = self.checked_under(rules);
        let Lookups {
            containers,
            volumes,
        } = rules.lookups(plan);
        let own = self.own_containers(engine, user, containers, policy).await;
        let volumes = self.existing_volumes(engine, user, volumes, policy).await?;
        let facts = Facts {
            role: user.role,
            own_containers: &own,
            volumes: &volumes,
        };
        let defaults = rules.check(plan, &facts)?;
        Ok(Checked {
            engine: member,
            defaults,
            volumes,
        })
    }

    /// A demo session's run of `template` for `owner` (a visitor, or the warm pool): checked
    /// against the `[guest]` rules when the template is public, as the admin who defined it
    /// otherwise. `create` false only checks (a template being defined): nothing is created.
    pub async fn admit_template(
        &self,
        template: &StoredTemplate,
        owner: &Owner,
        create: bool,
    ) -> Result<Admitted, Refusal> {
        let req = template.run_request();
        let (mut plan, argv) = plan_for(&req)?;
        if plan.name.is_some() {
            return Err(Refusal::Invalid(
                "a template cannot name its containers (--name): every session has its own".into(),
            ));
        }
        let role = if template.is_public() {
            Role::Guest
        } else {
            Role::Admin
        };
        let rules = self.policy.for_role(role);
        if template.is_public() && !rules.checks_requests() {
            return Err(Refusal::Invalid(
                "no template can be public without a [guest] table in the policy file \
                 (docs/POLICY.md)"
                    .into(),
            ));
        }
        let visitor = Principal {
            user_id: owner.user_id.clone(),
            username: owner.username.clone(),
            role,
            team: owner.team.clone(),
            via: crate::auth::Via::Guest,
            remote: String::new(),
        };
        let checked = self.check_plan(&visitor, rules, &req, &plan).await?;
        let owner = Owner {
            policy: self.checked_under(rules).map(String::from),
            ..owner.clone()
        };
        let engine = Arc::clone(&checked.engine);
        if create {
            checked.apply(&mut plan, &owner, rules).await?;
        }
        Ok(Admitted {
            registry_auth: self.registry_auth(&plan, &owner.team, false)?,
            plan,
            engine,
            argv,
            owner,
            deadline: None,
            _turn: None,
        })
    }

    /// The engine a run goes to: the one it names, or the least busy of those it may use
    /// (fewest Berth runs in progress, then fewest running containers, then file order) among
    /// the reachable ones that are not full and have the labels it asks for.
    fn place(&self, rules: &RolePolicy, req: &RunRequest) -> Result<Arc<Member>, Refusal> {
        let not_allowed = |name: &str| Denial {
            rule: "engine",
            message: format!("the engine {name} is not one your role may use"),
        };
        let full = |m: &Member| {
            m.max_runs
                .filter(|max| self.runs.on_engine(&m.name) >= *max as usize)
                .map(|max| format!("full ({max} Berth runs in progress, its most)"))
        };
        if let Some(name) = &req.engine {
            let member = self
                .engines
                .get(name)
                .ok_or_else(|| Refusal::Invalid(format!("no such engine: {name}")))?;
            if !rules.allows_engine(name) {
                return Err(not_allowed(name).into());
            }
            if let Some(why) = full(member) {
                return Err(Refusal::NoEngine(format!("engine {name} is {why}")));
            }
            return Ok(Arc::clone(member));
        }
        let all = self.engines.all();
        // One engine, as without an engines file: it is used whatever its health says, so
        // that a run on an engine that does not answer fails as it always did.
        if let [only] = all {
            return match (rules.allows_engine(&only.name), full(only)) {
                (false, _) => Err(not_allowed(&only.name).into()),
                (true, Some(why)) => {
                    Err(Refusal::NoEngine(format!("engine {} is {why}", only.name)))
                }
                (true, None) => Ok(Arc::clone(only)),
            };
        }
        let wanted = req.engine_labels.clone().unwrap_or_default();
        let mut why_not = Vec::new();
        let mut best: Option<(usize, u64, &Arc<Member>)> = None;
        for member in all {
            let reason = if !rules.allows_engine(&member.name) {
                Some("not allowed for your role".to_string())
            } else if wanted.iter().any(|(k, v)| member.labels.get(k) != Some(v)) {
                Some("does not have the labels asked for".to_string())
            } else if !member.is_reachable() {
                Some("unreachable".to_string())
            } else {
                full(member)
            };
            if let Some(reason) = reason {
                why_not.push(format!("{}: {reason}", member.name));
                continue;
            }
            let load = (
                self.runs.on_engine(&member.name),
                member.health().containers_running,
            );
            if best.is_none_or(|(runs, running, _)| load < (runs, running)) {
                best = Some((load.0, load.1, member));
            }
        }
        best.map(|(_, _, m)| Arc::clone(m)).ok_or_else(|| {
            Refusal::NoEngine(format!(
                "no engine can take this run now ({})",
                why_not.join("; ")
            ))
        })
    }

    /// Runs in progress and runs per minute. With a concurrency limit, returns the turn that
    /// keeps the next request waiting until this run is registered.
    async fn check_limits(
        &self,
        user: &Principal,
        rules: &RolePolicy,
    ) -> Result<Option<OwnedMutexGuard<()>>, Refusal> {
        let mut turn = None;
        if let Some(max) = rules.max_concurrent_runs() {
            turn = Some(Arc::clone(&self.admission).lock_owned().await);
            if self.runs.in_progress_of(&user.user_id).await? >= max as usize {
                return Err(Refusal::Limit(format!(
                    "you have {max} runs in progress, the most your role allows; wait for one to end"
                )));
            }
        }
        if let Some(per_minute) = rules.runs_per_minute()
            && !self.limits.allow(
                &format!("run:{}", user.user_id),
                per_minute,
                Duration::from_secs(60),
            )
        {
            return Err(Refusal::Limit(format!(
                "more than {per_minute} runs in a minute; try again shortly"
            )));
        }
        Ok(turn)
    }

    /// Those of the `names` of containers (`--volumes-from`, `--link`, `container:X`) that
    /// `user` may use as theirs.
    async fn own_containers(
        &self,
        engine: &Engine,
        user: &Principal,
        names: Vec<String>,
        policy: Option<&str>,
    ) -> HashSet<String> {
        let mut own = HashSet::new();
        for name in names {
            if let Ok(c) = engine.inspect(&name).await {
                let owner = c
                    .config
                    .and_then(|c| c.labels)
                    .as_ref()
                    .and_then(RunLabels::from_labels)
                    .and_then(|l| l.owner);
                if owner.is_some_and(|o| user.may_use(&o, policy)) {
                    own.insert(name);
                }
            }
        }
        own
    }

    /// Those of the `names` of volumes that already exist: their driver, whether they were
    /// created with options, and whether `user` may use them as theirs. A volume the engine
    /// does not know is created for the request; any other failure to look one up refuses
    /// the run.
    async fn existing_volumes(
        &self,
        engine: &Engine,
        user: &Principal,
        names: Vec<String>,
        policy: Option<&str>,
    ) -> Result<HashMap<String, ExistingVolume>, Refusal> {
        let mut volumes = HashMap::new();
        for name in names {
            match engine.inspect_volume(&name).await {
                Ok(v) => {
                    let owner = v.labels.as_ref().and_then(Owner::from_labels);
                    let existing = ExistingVolume {
                        driver: v.driver,
                        has_options: v.options.is_some_and(|o| !o.is_empty()),
                        owned: owner.is_some_and(|o| user.may_use(&o, policy)),
                    };
                    volumes.insert(name, existing);
                }
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(volumes)
    }
}

/// Creates, labelled with their owner, the named volumes of an admitted `plan` that do
/// not exist yet — as the daemon would at create, with the request's driver, options and
/// labels — so that they are the owner's from then on. A volume someone else created in
/// the meantime refuses the run.
async fn create_volumes(
    engine: &Engine,
    plan: &Plan,
    existing: &HashMap<String, ExistingVolume>,
    owner: &Owner,
) -> Result<(), Refusal> {
    for mut volume in new_volumes(plan, existing) {
        owner.write(&mut volume.labels);
        let created = engine.create_volume(&volume).await?;
        let theirs = created.labels.as_ref().and_then(Owner::from_labels);
        if theirs.is_none_or(|o| o.user_id != owner.user_id) {
            return Err(Denial {
                rule: "named-volume",
                message: format!(
                    "the volume {} was just created by someone else; choose another name",
                    volume.name
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// A run request's plan and the argv it is recorded with, or why it is invalid.
pub fn plan_for(req: &RunRequest) -> Result<(Plan, Vec<String>), Refusal> {
    let invalid = |e: &dyn std::fmt::Display| Refusal::Invalid(e.to_string());
    let (spec, argv): (RunSpec, Vec<String>) = match (&req.argv, &req.spec) {
        (Some(_), Some(_)) => {
            return Err(Refusal::Invalid(
                "give either \"argv\" or \"spec\", not both".into(),
            ));
        }
        (None, None) => {
            return Err(Refusal::Invalid(
                "a run needs \"argv\" (the arguments after `docker run`) or \"spec\"".into(),
            ));
        }
        (Some(a), None) => (argv::parse(a).map_err(|e| invalid(&e))?, a.clone()),
        (None, Some(s)) => (s.clone(), argv::render(s)),
    };
    let plan = plan::build(&spec).map_err(|e| invalid(&e))?;
    Ok((plan, argv))
}

/// The named volumes `plan` mounts that are not in `existing`, as the daemon would create
/// them: `-v name:…` with `--volume-driver`, `--mount type=volume` with its own driver,
/// options and labels.
fn new_volumes(plan: &Plan, existing: &HashMap<String, ExistingVolume>) -> Vec<VolumeCreate> {
    let Some(host) = &plan.body.host_config else {
        return Vec::new();
    };
    let mut out: Vec<VolumeCreate> = Vec::new();
    let mut add = |volume: VolumeCreate| {
        let new = !volume.name.is_empty() && !volume.name.starts_with('/');
        if new && !existing.contains_key(&volume.name) && !out.iter().any(|v| v.name == volume.name)
        {
            out.push(volume);
        }
    };
    for bind in host.binds.iter().flatten() {
        let mut parts = bind.split(':');
        if let (Some(name), Some(_)) = (parts.next(), parts.next()) {
            add(VolumeCreate {
                name: name.to_string(),
                driver: host.volume_driver.clone().unwrap_or_default(),
                ..Default::default()
            });
        }
    }
    for m in host.mounts.iter().flatten() {
        if m.typ != Some(MountType::VOLUME) {
            continue;
        }
        let options = m.volume_options.as_ref();
        let driver = options.and_then(|o| o.driver_config.as_ref());
        add(VolumeCreate {
            name: m.source.clone().unwrap_or_default(),
            driver: driver.and_then(|d| d.name.clone()).unwrap_or_default(),
            driver_opts: driver.and_then(|d| d.options.clone()).unwrap_or_default(),
            labels: options.and_then(|o| o.labels.clone()).unwrap_or_default(),
        });
    }
    out
}
