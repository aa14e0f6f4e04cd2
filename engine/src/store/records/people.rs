//! The people who sign in to the console (SPEC §13) and their sessions.

use super::*;

/// What a person may do in the console.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything of one tenant, its API keys, webhooks and users included.
    Admin,
    /// One tenant's sends, book and history; no keys, webhooks or users.
    Member,
    /// The operator of the whole service (no tenant).
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Operator => "operator",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Role, ()> {
        [Role::Admin, Role::Member, Role::Operator]
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    /// `None` for the operator's accounts.
    pub tenant: Option<TenantId>,
    /// Lowercase; unique across tenants and the operator, since signing in names no tenant.
    pub email: String,
    /// argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    #[serde(with = "as_text")]
    pub role: Role,
    pub created_at: UnixMillis,
}

/// A signed-in session, stored under the SHA-256 of its cookie's token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub user: UserId,
    /// Every form of this session carries it; a form without it is refused.
    pub csrf: String,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// The one-time link that makes the first operator account (`people/setup.rs`): only the
/// SHA-256 of its token is kept, and it is gone once used.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OperatorSetupRecord {
    pub token_hash: [u8; 32],
    pub expires_at: UnixMillis,
}
