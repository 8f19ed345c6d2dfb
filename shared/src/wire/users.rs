//! Who may do what: roles, signing in (`POST /api/login`, `GET /api/me`) and the users an admin
//! manages (`/api/users`).

use serde::{Deserialize, Serialize};

/// What a user may do (docs/API.md, "Roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users, tokens, audit and other people's runs.
    Admin,
    /// Runs containers within the policy and manages their own (and their team's) runs.
    Operator,
    /// Watches their team's runs; no input, no actions.
    Viewer,
    /// A visitor of a public demo template, without an account: its own sessions and their
    /// runs, nothing else. Never a user's role (not in [`Role::ALL`]).
    Guest,
}

impl Role {
    /// The roles users have.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Guest => "guest",
        }
    }

    /// The users' role named `name` as the wire spells it (`admin`, `operator`, `viewer`).
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// May act on containers and runs (stop, kill, remove, attach, send input): all but viewers.
    pub fn may_act(self) -> bool {
        self != Role::Viewer
    }
}

/// `POST /api/login` body. (No `Debug`: it holds a password.)
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// Who is signed in: `GET /api/me`, and the answer of `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub username: String,
    pub role: Role,
    pub team: String,
    /// Whether the role and the run policy let this user run anything at all: viewers never,
    /// operators only when the policy has rules for them. Each run is still checked in full by
    /// the gateway; this only spares the user a form that could never succeed.
    pub may_run: bool,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// See [`Role::may_act`].
    pub fn may_act(&self) -> bool {
        self.role.may_act()
    }
}

/// `POST /api/users` body (admins). (No `Debug`: it holds a password.)
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// Empty for none.
    #[serde(default)]
    pub team: String,
}

/// A user as `GET /api/users` lists them and `POST /api/users` answers: never their hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub username: String,
    pub role: Role,
    pub team: String,
    /// RFC 3339.
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_name_and_bodies_refusing_unknown_fields() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_string(&role).unwrap(),
                format!("\"{}\"", role.as_str())
            );
        }
        assert_eq!(Role::parse("root"), None);
        let body = r#"{"username":"ann","password":"a long password","role":"operator"}"#;
        let user: NewUser = serde_json::from_str(body).unwrap();
        assert_eq!((user.role, user.team.as_str()), (Role::Operator, ""));
        assert!(serde_json::from_str::<Login>(r#"{"username":"a","password":"b","x":1}"#).is_err());
    }
}
