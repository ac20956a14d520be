//! `simnet run --disk-out DIR`: each host's disk as the run left it, written out for
//! inspection: `DIR/HOST/GUEST_PATH/...` for every mounted directory, with the files'
//! contents as guests last read them (page cache included), directories and
//! symbolic links.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use simnet_core::Net;
use simnet_core::disk::{Disk, NodeId, NodeKind};

/// Check `dir` can take the images before the run (so a bad path costs no run).
pub fn check(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("--disk-out {}: not a directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// Write every host's mounted directories under `dir`; how many files were written.
pub fn write(dir: &Path, net: &Net) -> Result<usize> {
    let mut files = 0;
    for host in net.hosts() {
        let disk = net.disk(host);
        for mount in disk.mounts() {
            let rel = mount.guest_path.trim_start_matches('/');
            let mut to = dir.join(net.host_name(host));
            if !rel.is_empty() && rel != "." {
                to = to.join(rel);
            }
            files += write_dir(disk, mount.node, &to)?;
        }
    }
    Ok(files)
}

fn write_dir(disk: &Disk, node: NodeId, to: &PathBuf) -> Result<usize> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut files = 0;
    for entry in disk
        .entries(node)
        .map_err(|e| anyhow::anyhow!("{}: {e}", to.display()))?
    {
        let path = to.join(&entry.name);
        match entry.kind {
            NodeKind::Directory => files += write_dir(disk, entry.node, &path)?,
            NodeKind::File => {
                let bytes = disk
                    .contents(entry.node)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                files += 1;
            }
            NodeKind::Symlink => {
                let target = disk
                    .link_target(entry.node)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                let _ = std::fs::remove_file(&path);
                #[cfg(unix)]
                std::os::unix::fs::symlink(&target, &path)
                    .with_context(|| format!("cannot write the link {}", path.display()))?;
            }
        }
    }
    Ok(files)
}
