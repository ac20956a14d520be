//! A disk's initial contents: a tree of directories, files and symbolic links that
//! the layer above builds (from a host directory, or by hand in a test). Files are
//! shared page by page with every disk made from the image, copy on write, so a
//! thousand seeds of a world with a large data directory hold it once.

use std::collections::BTreeMap;

use super::content::Content;
use super::path::NAME_MAX;
use crate::fs_error::FsError;

/// One entry of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageEntry {
    File(Content),
    Directory(BTreeMap<String, ImageEntry>),
    Symlink(String),
}

/// A directory tree to mount on a disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskImage {
    pub entries: BTreeMap<String, ImageEntry>,
}

impl DiskImage {
    /// An empty directory.
    pub fn empty() -> DiskImage {
        DiskImage::default()
    }

    /// Add a file at `path` (`a/b/c`), creating the directories on the way.
    pub fn add_file(&mut self, path: &str, bytes: &[u8]) -> Result<(), FsError> {
        self.add(path, ImageEntry::File(Content::from_bytes(bytes)))
    }

    /// Add a directory at `path`, and its parents.
    pub fn add_dir(&mut self, path: &str) -> Result<(), FsError> {
        self.add(path, ImageEntry::Directory(BTreeMap::new()))
    }

    /// Add a symbolic link at `path` pointing at `target`.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<(), FsError> {
        self.add(path, ImageEntry::Symlink(target.to_string()))
    }

    /// Add `entry` at `path`, creating the directories on the way; an existing
    /// directory there is kept (and merged into).
    pub fn add(&mut self, path: &str, entry: ImageEntry) -> Result<(), FsError> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else {
            return Err(FsError::Invalid);
        };
        let mut at = &mut self.entries;
        for part in dirs {
            check_name(part)?;
            let next = at
                .entry(part.to_string())
                .or_insert_with(|| ImageEntry::Directory(BTreeMap::new()));
            at = match next {
                ImageEntry::Directory(children) => children,
                _ => return Err(FsError::NotDirectory),
            };
        }
        check_name(last)?;
        match (at.get_mut(*last), entry) {
            (Some(ImageEntry::Directory(_)), ImageEntry::Directory(_)) => {}
            (_, entry) => {
                at.insert(last.to_string(), entry);
            }
        }
        Ok(())
    }

    /// Bytes the image's files hold.
    pub fn bytes(&self) -> u64 {
        fn sum(entries: &BTreeMap<String, ImageEntry>) -> u64 {
            entries
                .values()
                .map(|e| match e {
                    ImageEntry::File(c) => c.len(),
                    ImageEntry::Directory(children) => sum(children),
                    ImageEntry::Symlink(_) => 0,
                })
                .sum()
        }
        sum(&self.entries)
    }
}

fn check_name(name: &str) -> Result<(), FsError> {
    if name == "." || name == ".." || name.contains('\0') {
        return Err(FsError::Invalid);
    }
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    Ok(())
}
