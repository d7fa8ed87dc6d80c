//! [`MemoryStore`]: a [`TokenStore`] in one process's memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::store::{
    AccessGrant, ClientRecord, CodeRecord, GrantRecord, PendingSignIn, Redemption, Rotation,
    StoreError, TokenStore,
};

/// A token store in memory: for one server process, and lost when it stops (every
/// client must sign in again after a restart). Use the PostgreSQL store of
/// `sluice-postgres` to share grants between processes and keep them across restarts.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<String, ClientRecord>,
    pending: HashMap<String, PendingSignIn>,
    /// Code hash → (record, spent).
    codes: HashMap<String, (CodeRecord, bool)>,
    grants: HashMap<String, Grant>,
    /// Access token hash → (grant id, expiry).
    access: HashMap<String, (String, u64)>,
    /// Refresh token hash (current or replaced) → grant id.
    refresh: HashMap<String, String>,
    secrets: HashMap<String, Vec<u8>>,
}

#[derive(Debug)]
struct Grant {
    record: GrantRecord,
    current_refresh: String,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent maps (every change
        // is a single insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn revoke(&mut self, grant_id: &str) {
        self.grants.remove(grant_id);
        self.access.retain(|_, (g, _)| g != grant_id);
        self.refresh.retain(|_, g| g != grant_id);
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn add_client(
        &self,
        client: ClientRecord,
        max_clients: usize,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.clients.len() >= max_clients {
            return Ok(false);
        }
        state.clients.insert(client.client_id.clone(), client);
        Ok(true)
    }

    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.state().clients.get(client_id).cloned())
    }

    async fn add_pending(
        &self,
        state_hash: &str,
        pending: PendingSignIn,
        max_pending: usize,
    ) -> Result<bool, StoreError> {
        let now = super::store::now();
        let mut state = self.state();
        state.pending.retain(|_, p| p.expires_at > now);
        if state.pending.len() >= max_pending {
            return Ok(false);
        }
        state.pending.insert(state_hash.to_owned(), pending);
        Ok(true)
    }

    async fn take_pending(&self, state_hash: &str) -> Result<Option<PendingSignIn>, StoreError> {
        Ok(self.state().pending.remove(state_hash))
    }

    async fn add_code(&self, code_hash: &str, code: CodeRecord) -> Result<(), StoreError> {
        self.state()
            .codes
            .insert(code_hash.to_owned(), (code, false));
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str, now: u64) -> Result<Redemption, StoreError> {
        let mut state = self.state();
        let Some((record, spent)) = state.codes.get_mut(code_hash) else {
            return Ok(Redemption::Unknown);
        };
        if record.expires_at <= now {
            return Ok(Redemption::Unknown);
        }
        if *spent {
            return Ok(Redemption::Reused {
                grant_id: record.grant_id.clone(),
            });
        }
        *spent = true;
        Ok(Redemption::Fresh(Box::new(record.clone())))
    }

    async fn add_grant(
        &self,
        grant: GrantRecord,
        access_hash: &str,
        access_expires_at: u64,
        refresh_hash: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let id = grant.id.clone();
        state
            .access
            .insert(access_hash.to_owned(), (id.clone(), access_expires_at));
        state.refresh.insert(refresh_hash.to_owned(), id.clone());
        state.grants.insert(
            id,
            Grant {
                record: grant,
                current_refresh: refresh_hash.to_owned(),
            },
        );
        Ok(())
    }

    async fn access(&self, access_hash: &str, now: u64) -> Result<Option<AccessGrant>, StoreError> {
        let state = self.state();
        let Some((grant_id, expires_at)) = state.access.get(access_hash) else {
            return Ok(None);
        };
        if *expires_at <= now {
            return Ok(None);
        }
        Ok(state
            .grants
            .get(grant_id)
            .filter(|g| g.record.expires_at > now)
            .map(|g| AccessGrant {
                grant: g.record.clone(),
                expires_at: *expires_at,
            }))
    }

    async fn rotate_refresh(
        &self,
        refresh_hash: &str,
        new_refresh_hash: &str,
        new_access_hash: &str,
        access_expires_at: u64,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let mut state = self.state();
        let Some(grant_id) = state.refresh.get(refresh_hash).cloned() else {
            return Ok(Rotation::Unknown);
        };
        let Some(grant) = state.grants.get_mut(&grant_id) else {
            return Ok(Rotation::Unknown);
        };
        if grant.record.expires_at <= now {
            return Ok(Rotation::Unknown);
        }
        if grant.current_refresh != refresh_hash {
            state.revoke(&grant_id);
            return Ok(Rotation::Reused);
        }
        grant.current_refresh = new_refresh_hash.to_owned();
        let record = grant.record.clone();
        state
            .refresh
            .insert(new_refresh_hash.to_owned(), grant_id.clone());
        state
            .access
            .insert(new_access_hash.to_owned(), (grant_id, access_expires_at));
        Ok(Rotation::Rotated(Box::new(record)))
    }

    async fn refresh_grant(&self, refresh_hash: &str) -> Result<Option<GrantRecord>, StoreError> {
        let state = self.state();
        Ok(state
            .refresh
            .get(refresh_hash)
            .and_then(|id| state.grants.get(id))
            .map(|g| g.record.clone()))
    }

    async fn revoke_access(&self, access_hash: &str) -> Result<bool, StoreError> {
        Ok(self.state().access.remove(access_hash).is_some())
    }

    async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.state().revoke(grant_id);
        Ok(())
    }

    async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let before = state.pending.len()
            + state.codes.len()
            + state.access.len()
            + state.grants.len()
            + state.refresh.len();
        state.pending.retain(|_, p| p.expires_at > now);
        state.codes.retain(|_, (c, _)| c.expires_at > now);
        state.access.retain(|_, (_, e)| *e > now);
        state.grants.retain(|_, g| g.record.expires_at > now);
        let State {
            grants, refresh, ..
        } = &mut *state;
        refresh.retain(|_, g| grants.contains_key(g));
        let after = state.pending.len()
            + state.codes.len()
            + state.access.len()
            + state.grants.len()
            + state.refresh.len();
        Ok((before - after) as u64)
    }

    async fn secret(&self, name: &str, proposed: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        // Nothing outlives the process, so a generated key lives exactly as long as the
        // grants it protects.
        Ok(self
            .state()
            .secrets
            .entry(name.to_owned())
            .or_insert(proposed)
            .clone())
    }
}
