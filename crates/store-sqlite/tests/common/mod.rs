//! What the SQLite backend's test files share: temporary directories that
//! clean up after themselves.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory removed, with everything in it, when dropped.
pub struct Dir(pub PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, not yet created directory under the system's temporary directory,
/// unique to this process and call.
pub fn dir(kind: &str) -> Dir {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!("tollgate-{kind}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
    Dir(std::env::temp_dir().join(name))
}
