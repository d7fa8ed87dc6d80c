//! [`verify_store`]: the behaviour every [`TokenStore`] must have, as a check that any
//! implementation (ours, or one of your own over another database) can run in its tests.

use std::sync::Arc;

use super::crypto;
use super::store::{
    AuthorizationRequest, ClientRecord, CodeRecord, GrantRecord, PendingSignIn, Redemption,
    Rotation, TokenStore, now,
};
use crate::identity::Identity;

fn fresh(prefix: &str) -> String {
    crypto::new_token(prefix).unwrap_or_else(|_| format!("{prefix}{}", now()))
}

fn request() -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: "contract-client".to_owned(),
        redirect_uri: "http://127.0.0.1:9/cb".to_owned(),
        code_challenge: "c".repeat(43),
        resource: "http://127.0.0.1:9/mcp".to_owned(),
        scopes: vec!["db:read".to_owned()],
        state: None,
    }
}

fn grant(id: &str, expires_at: u64) -> GrantRecord {
    GrantRecord {
        id: id.to_owned(),
        client_id: "contract-client".to_owned(),
        identity: Identity::new("contract").with_id("github:1"),
        scopes: vec!["db:read".to_owned()],
        resource: "http://127.0.0.1:9/mcp".to_owned(),
        expires_at,
    }
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// Runs the contract against `store`: limits on clients and pending sign-ins, single
/// use of pending sign-ins and codes (also when redeemed concurrently), rotation and
/// reuse detection of refresh tokens (also concurrently), revocation, expiry, purging
/// and kept secrets. Uses fresh random keys, so it can run on a store in use. The
/// store's own size limits are exercised with the counts it already holds.
///
/// # Errors
///
/// The first broken rule, in words (or the store's own error).
pub async fn verify_store(store: Arc<dyn TokenStore>) -> Result<(), String> {
    let s = store.as_ref();
    let err = |e: super::store::StoreError| e.to_string();
    let now = now();

    // Clients: kept, found, and refused beyond the limit.
    let id = fresh("contract_client_");
    let client = ClientRecord::public(
        &id,
        Some("Contract".to_owned()),
        vec!["http://127.0.0.1:9/cb".to_owned()],
    );
    ensure!(
        s.add_client(client.clone(), usize::MAX)
            .await
            .map_err(err)?,
        "add_client refused below its limit"
    );
    ensure!(
        s.client(&id).await.map_err(err)?.as_ref() == Some(&client),
        "a client did not come back as stored"
    );
    ensure!(
        !s.add_client(ClientRecord::public(fresh("c_"), None, vec![]), 0)
            .await
            .map_err(err)?,
        "add_client accepted a client beyond max_clients"
    );

    // Pending sign-ins: single use, bounded.
    let state = crypto::hash(&fresh("state_"));
    let pending = PendingSignIn {
        request: request(),
        upstream_verifier: "v".repeat(43),
        expires_at: now + 600,
    };
    ensure!(
        s.add_pending(&state, pending.clone(), usize::MAX)
            .await
            .map_err(err)?,
        "add_pending refused below its limit"
    );
    ensure!(
        !s.add_pending(&crypto::hash(&fresh("state_")), pending.clone(), 0)
            .await
            .map_err(err)?,
        "add_pending accepted beyond max_pending"
    );
    ensure!(
        s.take_pending(&state).await.map_err(err)? == Some(pending),
        "take_pending lost the sign-in"
    );
    ensure!(
        s.take_pending(&state).await.map_err(err)?.is_none(),
        "a pending sign-in was taken twice"
    );

    // Codes: one redemption wins, even when many race; later ones see the reuse.
    let code = crypto::hash(&fresh("code_"));
    let grant_id = fresh("grant_");
    let record = CodeRecord {
        grant_id: grant_id.clone(),
        request: request(),
        identity: Identity::new("contract"),
        expires_at: now + 120,
    };
    s.add_code(&code, record.clone()).await.map_err(err)?;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let code = code.clone();
            tokio::spawn(async move { store.redeem_code(&code, now).await })
        })
        .collect();
    let mut fresh_count = 0;
    for racer in racers {
        match racer.await.map_err(|e| e.to_string())?.map_err(err)? {
            Redemption::Fresh(got) => {
                ensure!(*got == record, "a redeemed code came back changed");
                fresh_count += 1;
            }
            Redemption::Reused { grant_id: g } => {
                ensure!(g == grant_id, "a reused code named another grant");
            }
            Redemption::Unknown => return Err("a stored code was unknown".to_owned()),
        }
    }
    ensure!(
        fresh_count == 1,
        "{fresh_count} concurrent redemptions of one code succeeded"
    );
    let expired = crypto::hash(&fresh("code_"));
    s.add_code(
        &expired,
        CodeRecord {
            expires_at: now.saturating_sub(1),
            ..record.clone()
        },
    )
    .await
    .map_err(err)?;
    ensure!(
        s.redeem_code(&expired, now).await.map_err(err)? == Redemption::Unknown,
        "an expired code was redeemed"
    );

    // Grants: access found until revoked or expired.
    let access = crypto::hash(&fresh("at_"));
    let refresh = crypto::hash(&fresh("rt_"));
    s.add_grant(grant(&grant_id, now + 3600), &access, now + 60, &refresh)
        .await
        .map_err(err)?;
    let found = s.access(&access, now).await.map_err(err)?;
    ensure!(
        found.as_ref().map(|g| &g.grant.id) == Some(&grant_id),
        "an access token did not find its grant"
    );
    ensure!(
        s.access(&access, now + 61).await.map_err(err)?.is_none(),
        "an expired access token was accepted"
    );
    ensure!(
        s.refresh_grant(&refresh).await.map_err(err)?.is_some(),
        "a refresh token did not find its grant"
    );

    // Rotation: concurrent uses of one refresh token rotate once; a replaced one
    // revokes the grant.
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let store = Arc::clone(&store);
            let refresh = refresh.clone();
            tokio::spawn(async move {
                let new_refresh = crypto::hash(&format!("rt-new-{i}-{}", fresh("")));
                let new_access = crypto::hash(&format!("at-new-{i}-{}", fresh("")));
                store
                    .rotate_refresh(&refresh, &new_refresh, &new_access, now + 60, now)
                    .await
                    .map(|r| (r, new_refresh, new_access))
            })
        })
        .collect();
    let mut rotated = Vec::new();
    for racer in racers {
        let (rotation, new_refresh, new_access) =
            racer.await.map_err(|e| e.to_string())?.map_err(err)?;
        if matches!(rotation, Rotation::Rotated(_)) {
            rotated.push((new_refresh, new_access));
        }
    }
    ensure!(
        rotated.len() == 1,
        "{} concurrent rotations of one refresh token succeeded",
        rotated.len()
    );
    // (The racers after the winner presented a replaced token: the grant is revoked.)
    let (_, new_access) = &rotated[0];
    ensure!(
        s.access(new_access, now).await.map_err(err)?.is_none(),
        "reuse of a replaced refresh token did not revoke the grant"
    );
    ensure!(
        s.access(&access, now).await.map_err(err)?.is_none(),
        "revoking a grant left its first access token"
    );

    // Sequential rotation and reuse.
    let grant_id = fresh("grant_");
    let (access, refresh) = (crypto::hash(&fresh("at_")), crypto::hash(&fresh("rt_")));
    s.add_grant(grant(&grant_id, now + 3600), &access, now + 60, &refresh)
        .await
        .map_err(err)?;
    let (refresh2, access2) = (crypto::hash(&fresh("rt_")), crypto::hash(&fresh("at_")));
    ensure!(
        matches!(
            s.rotate_refresh(&refresh, &refresh2, &access2, now + 60, now)
                .await
                .map_err(err)?,
            Rotation::Rotated(_)
        ),
        "the current refresh token did not rotate"
    );
    ensure!(
        s.access(&access2, now).await.map_err(err)?.is_some(),
        "the rotated access token is unknown"
    );
    ensure!(
        s.revoke_access(&access2).await.map_err(err)?,
        "revoke_access found nothing"
    );
    ensure!(
        s.access(&access2, now).await.map_err(err)?.is_none(),
        "a revoked access token was accepted"
    );
    ensure!(
        s.rotate_refresh(
            &refresh,
            &crypto::hash(&fresh("x")),
            &crypto::hash(&fresh("y")),
            now + 60,
            now
        )
        .await
        .map_err(err)?
            == Rotation::Reused,
        "a replaced refresh token was not seen as reused"
    );
    ensure!(
        s.rotate_refresh(
            &refresh2,
            &crypto::hash(&fresh("x")),
            &crypto::hash(&fresh("y")),
            now + 60,
            now
        )
        .await
        .map_err(err)?
            == Rotation::Unknown,
        "a revoked grant's refresh token still rotates"
    );

    // Revoking a grant, expiry of grants, purging.
    let grant_id = fresh("grant_");
    let (access, refresh) = (crypto::hash(&fresh("at_")), crypto::hash(&fresh("rt_")));
    s.add_grant(grant(&grant_id, now + 3600), &access, now + 60, &refresh)
        .await
        .map_err(err)?;
    s.revoke_grant(&grant_id).await.map_err(err)?;
    ensure!(
        s.access(&access, now).await.map_err(err)?.is_none()
            && s.refresh_grant(&refresh).await.map_err(err)?.is_none(),
        "revoke_grant left tokens"
    );
    let old = fresh("grant_");
    let (old_access, old_refresh) = (crypto::hash(&fresh("at_")), crypto::hash(&fresh("rt_")));
    s.add_grant(grant(&old, now + 5), &old_access, now + 5, &old_refresh)
        .await
        .map_err(err)?;
    ensure!(
        s.access(&old_access, now + 10)
            .await
            .map_err(err)?
            .is_none(),
        "an expired grant's token was accepted"
    );
    ensure!(
        s.purge_expired(now + 10).await.map_err(err)? >= 1,
        "purge_expired removed nothing expired"
    );
    ensure!(
        s.refresh_grant(&old_refresh).await.map_err(err)?.is_none(),
        "purge_expired kept an expired grant"
    );

    // Secrets: the first proposal is kept.
    let name = fresh("secret_");
    let first = s.secret(&name, vec![1, 2, 3]).await.map_err(err)?;
    let second = s.secret(&name, vec![4, 5, 6]).await.map_err(err)?;
    ensure!(
        first == vec![1, 2, 3] && second == first,
        "a kept secret changed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_keeps_the_contract() {
        super::verify_store(std::sync::Arc::new(super::super::MemoryStore::new()))
            .await
            .unwrap();
    }
}
