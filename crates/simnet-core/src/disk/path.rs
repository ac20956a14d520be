//! Path resolution beneath a directory, as wasmtime-wasi resolves a guest's paths on
//! Linux (cap-std): relative paths only, never above the directory resolution
//! starts from (not through `..`, nor an absolute or climbing symbolic link: that is
//! `not-permitted`), symbolic links followed up to 40 times (`loop` beyond), a
//! trailing slash asking for a directory, names of at most 255 bytes and paths under
//! 4096.

use std::collections::VecDeque;

use super::node::{Node, NodeData, NodeId};
use crate::fs_error::FsError;

/// Symbolic links one resolution may follow (Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: u32 = 40;
/// Longest name of one entry, in bytes (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Paths must be shorter than this many bytes (PATH_MAX).
pub const PATH_MAX: usize = 4096;

/// Where a path leads: the directory holding its last component, that component's
/// name (`None` when the path ends in `.` or `..`), and the node it names if one
/// exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub parent: NodeId,
    pub name: Option<String>,
    pub node: Option<NodeId>,
    /// The path ended with a slash: its last component must be a directory.
    pub trailing_slash: bool,
}

/// The nodes resolution reads.
pub(crate) trait Nodes {
    fn node(&self, id: NodeId) -> Option<&Node>;
}

/// What happens to a symbolic link as the last component of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LastLink {
    /// It is followed (`symlink-follow`).
    Follow,
    /// It is followed only when the path ends in a slash (opening or stating
    /// without `symlink-follow`, reading a link).
    FollowIfSlash,
    /// It is the entry the call makes, removes or renames, never followed; a
    /// trailing slash asks it to be a directory, which the call checks (Linux's
    /// `mkdir`, `rmdir`, `unlink`, `rename`, `link` and `symlink` on "link/").
    Entry,
}

/// Resolve `path` from the directory `base`. With `follow`, a symbolic link as the
/// last component is followed too (as it always is when the path ends in a slash).
pub(crate) fn resolve(
    nodes: &impl Nodes,
    base: NodeId,
    path: &str,
    follow: bool,
) -> Result<Resolved, FsError> {
    let last = if follow {
        LastLink::Follow
    } else {
        LastLink::FollowIfSlash
    };
    resolve_as(nodes, base, path, last)
}

/// [`resolve`], with the last component's symbolic link treated as `last` says.
pub(crate) fn resolve_as(
    nodes: &impl Nodes,
    base: NodeId,
    path: &str,
    last: LastLink,
) -> Result<Resolved, FsError> {
    check_path(path)?;
    let trailing_slash = path.ends_with('/');
    let mut queue: VecDeque<String> = components(path)?;
    // Directories walked from `base`: `..` pops one, and may never pop `base`.
    let mut dirs: Vec<NodeId> = vec![base];
    let mut followed = 0u32;
    let mut tail_slash = trailing_slash;
    let mut last_name: Option<String> = None;
    let mut last_node: Option<NodeId> = Some(base);
    let mut parent = base;
    while let Some(component) = queue.pop_front() {
        let is_last = queue.is_empty();
        let current = *dirs.last().ok_or(FsError::NotPermitted)?;
        match component.as_str() {
            "." => {
                (parent, last_name, last_node) = (current, None, Some(current));
                continue;
            }
            ".." => {
                if dirs.len() == 1 {
                    return Err(FsError::NotPermitted);
                }
                dirs.pop();
                let up = *dirs.last().ok_or(FsError::NotPermitted)?;
                (parent, last_name, last_node) = (up, None, Some(up));
                continue;
            }
            _ => {}
        }
        let dir = nodes.node(current).ok_or(FsError::NoEntry)?;
        let entries = dir.entries().ok_or(FsError::NotDirectory)?;
        let Some(&child) = entries.get(&component) else {
            if is_last {
                return Ok(Resolved {
                    parent: current,
                    name: Some(component),
                    node: None,
                    trailing_slash: tail_slash,
                });
            }
            return Err(FsError::NoEntry);
        };
        let node = nodes.node(child).ok_or(FsError::NoEntry)?;
        match &node.data {
            NodeData::Symlink(target)
                if !is_last
                    || last == LastLink::Follow
                    || (tail_slash && last == LastLink::FollowIfSlash) =>
            {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(FsError::Loop);
                }
                if target.starts_with('/') {
                    return Err(FsError::NotPermitted);
                }
                // The link's target replaces it; a slash after the link still asks
                // for a directory at the end.
                let mut expanded = components(target)?;
                if is_last && target.ends_with('/') {
                    tail_slash = true;
                }
                while let Some(c) = expanded.pop_back() {
                    queue.push_front(c);
                }
            }
            NodeData::Directory { .. } => {
                if is_last {
                    return Ok(Resolved {
                        parent: current,
                        name: Some(component),
                        node: Some(child),
                        trailing_slash: tail_slash,
                    });
                }
                dirs.push(child);
            }
            _ if is_last => {
                if tail_slash && last != LastLink::Entry {
                    return Err(FsError::NotDirectory);
                }
                return Ok(Resolved {
                    parent: current,
                    name: Some(component),
                    node: Some(child),
                    trailing_slash: tail_slash,
                });
            }
            _ => return Err(FsError::NotDirectory),
        }
    }
    Ok(Resolved {
        parent,
        name: last_name,
        node: last_node,
        trailing_slash: tail_slash,
    })
}

/// Refuse what no resolution takes: an empty path, an absolute one, one too long,
/// one with a NUL byte.
fn check_path(path: &str) -> Result<(), FsError> {
    if path.is_empty() {
        return Err(FsError::NoEntry);
    }
    if path.len() >= PATH_MAX {
        return Err(FsError::NameTooLong);
    }
    if path.contains('\0') {
        return Err(FsError::Invalid);
    }
    if path.starts_with('/') {
        return Err(FsError::NotPermitted);
    }
    Ok(())
}

/// The components of `path` (empty ones, from repeated slashes, dropped).
fn components(path: &str) -> Result<VecDeque<String>, FsError> {
    let mut out = VecDeque::new();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        if c.len() > NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        out.push_back(c.to_string());
    }
    if out.is_empty() {
        // "//": the directory itself.
        out.push_back(".".to_string());
    }
    Ok(out)
}
