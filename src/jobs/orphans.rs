//! Runs left `running` by a process that is gone (killed, crashed, the machine
//! rebooted): found by their holder and marked aborted, without touching a run
//! another live process is executing.
//!
//! Every run records its holder: a daemon's instance name (`host/pid/random`, or
//! `[daemon] instance`) or, for `driftwatch run`, `host/pid/cli`. A holder on this
//! host whose pid no longer exists is gone. Holders on other hosts cannot be
//! checked from here; on PostgreSQL a replica that takes over an expired lease
//! aborts those (`jobs::scheduler`).

use crate::store::{Store, StoreError};

/// This machine's name (`/proc/sys/kernel/hostname`, `host` when unreadable).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// The holder a `driftwatch run` records: `host/pid/cli`.
pub fn cli_holder() -> String {
    format!("{}/{}/cli", hostname(), std::process::id())
}

/// Whether the process behind `holder` is alive: `Some(false)` when it is a
/// process on this host that no longer exists, `Some(true)` when it exists,
/// `None` when the holder is not `host/pid/…` on this host.
pub fn holder_alive(holder: &str, host: &str) -> Option<bool> {
    let mut parts = holder.splitn(3, '/');
    let (h, pid) = (parts.next()?, parts.next()?);
    let pid: u32 = pid.parse().ok()?;
    if h != host {
        return None;
    }
    Some(pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Which running runs to abort. `sole_daemon`: this process is the only daemon
/// on the database (it holds the SQLite lock), so a run held by a daemon-named
/// holder that is not a live process here, or by no recorded holder, is
/// orphaned too. Runs of a live process are never chosen.
pub fn orphaned(running: &[(i64, Option<String>)], host: &str, sole_daemon: bool) -> Vec<i64> {
    running
        .iter()
        .filter(|(_, holder)| match holder.as_deref() {
            Some(h) => match holder_alive(h, host) {
                Some(alive) => !alive,
                None => sole_daemon && !h.ends_with("/cli"),
            },
            None => sole_daemon,
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Marks the orphaned running runs aborted (see [`orphaned`]); returns how many.
pub async fn abort_orphaned_runs(store: &Store, sole_daemon: bool) -> Result<u64, StoreError> {
    let running = store.running_runs().await?;
    let ids = orphaned(&running, &hostname(), sole_daemon);
    if ids.is_empty() {
        return Ok(0);
    }
    store
        .abort_runs(&ids, "the process running it stopped before it finished")
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_of_processes_that_are_gone_are_orphaned() {
        let host = "box";
        let me = format!("box/{}/cli", std::process::id());
        let running = vec![
            (1, Some(me.clone())),                   // this process: alive
            (2, Some("box/4000000000/cli".into())),  // no such pid: gone
            (3, Some("other/1/cli".into())),         // another host: unknown
            (4, Some("replica-a".into())),           // a named daemon
            (5, None),                               // before holders were recorded
            (6, Some("box/4000000001/9f3a".into())), // a daemon that is gone
        ];
        assert_eq!(orphaned(&running, host, false), [2, 6]);
        assert_eq!(orphaned(&running, host, true), [2, 4, 5, 6]);
        assert_eq!(holder_alive(&me, host), Some(true));
        assert_eq!(holder_alive("box/notapid/x", host), None);
    }
}
