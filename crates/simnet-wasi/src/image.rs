//! Disk images from host directories: what a simulated disk starts with. The host
//! directory is read once and never written; every disk made from the image shares
//! its pages.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use simnet_core::disk::{Content, DiskImage, ImageEntry, NAME_MAX};

/// The most an image may hold, in bytes of file data.
pub const MAX_IMAGE_BYTES: u64 = 4 << 30;
/// The most entries (files, directories, links) an image may hold.
pub const MAX_IMAGE_ENTRIES: usize = 1_000_000;
/// The deepest an image's directories may nest.
pub const MAX_IMAGE_DEPTH: usize = 256;

/// Where a mounted directory's contents come from.
#[derive(Clone, Debug)]
pub enum DiskSource {
    /// An empty directory.
    Empty,
    /// A copy of a host directory, read when first mounted.
    Dir(PathBuf),
    /// An image built in memory (shared, never changed).
    Image(Arc<DiskImage>),
}

impl From<PathBuf> for DiskSource {
    fn from(p: PathBuf) -> Self {
        DiskSource::Dir(p)
    }
}

impl From<&Path> for DiskSource {
    fn from(p: &Path) -> Self {
        DiskSource::Dir(p.to_path_buf())
    }
}

impl From<&str> for DiskSource {
    fn from(p: &str) -> Self {
        DiskSource::Dir(PathBuf::from(p))
    }
}

impl From<DiskImage> for DiskSource {
    fn from(i: DiskImage) -> Self {
        DiskSource::Image(Arc::new(i))
    }
}

impl From<Arc<DiskImage>> for DiskSource {
    fn from(i: Arc<DiskImage>) -> Self {
        DiskSource::Image(i)
    }
}

/// A directory mounted on a guest's host disk.
#[derive(Clone, Debug)]
pub struct DiskMount {
    /// Where guests see it (an absolute path such as `/data`, or `.`).
    pub guest: String,
    pub source: DiskSource,
    /// Guests may read it and change nothing beneath it.
    pub read_only: bool,
}

/// Read the host directory `dir` into an image: its files' bytes, its directories,
/// and its symbolic links as links (never followed, so a link out of the directory
/// stays one, which a guest cannot follow). Special files, names that are not UTF-8,
/// and images past the limits above are refused, naming the path.
pub fn load_image(dir: &Path) -> Result<DiskImage, String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let mut budget = Budget {
        bytes: 0,
        entries: 0,
    };
    let entries = read_dir(dir, 0, &mut budget)?;
    Ok(DiskImage { entries })
}

struct Budget {
    bytes: u64,
    entries: usize,
}

fn read_dir(
    dir: &Path,
    depth: usize,
    budget: &mut Budget,
) -> Result<std::collections::BTreeMap<String, ImageEntry>, String> {
    if depth > MAX_IMAGE_DEPTH {
        return Err(format!(
            "{} nests deeper than {MAX_IMAGE_DEPTH} directories",
            dir.display()
        ));
    }
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut out = std::collections::BTreeMap::new();
    for entry in read {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| format!("{}: the name is not UTF-8", path.display()))?;
        if name.len() > NAME_MAX {
            return Err(format!(
                "{}: the name is longer than {NAME_MAX} bytes",
                path.display()
            ));
        }
        budget.entries += 1;
        if budget.entries > MAX_IMAGE_ENTRIES {
            return Err(format!(
                "{} holds more than {MAX_IMAGE_ENTRIES} entries, the most an image takes",
                dir.display()
            ));
        }
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let image_entry = if kind.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|e| format!("cannot read the link {}: {e}", path.display()))?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| format!("{}: the link's target is not UTF-8", path.display()))?;
            ImageEntry::Symlink(target)
        } else if kind.is_dir() {
            ImageEntry::Directory(read_dir(&path, depth + 1, budget)?)
        } else if kind.is_file() {
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .len();
            // Counted before reading: a huge file is refused without being read.
            budget.bytes = budget.bytes.saturating_add(size);
            if budget.bytes > MAX_IMAGE_BYTES {
                return Err(format!(
                    "the files under {} hold more than {} bytes, the most an image takes",
                    dir.display(),
                    MAX_IMAGE_BYTES
                ));
            }
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            ImageEntry::File(Content::from_shared(bytes.into()))
        } else {
            return Err(format!(
                "{} is a special file (a device, socket or pipe): a disk image holds files, \
                 directories and links only",
                path.display()
            ));
        };
        out.insert(name, image_entry);
    }
    Ok(out)
}

/// Images read from host directories, by path, so that every seed of a world mounts
/// the same pages (a directory is read once per runtime).
#[derive(Default)]
pub(crate) struct ImageCache {
    images: std::sync::Mutex<std::collections::BTreeMap<PathBuf, Arc<DiskImage>>>,
}

impl ImageCache {
    pub fn get(&self, source: &DiskSource) -> Result<Arc<DiskImage>, String> {
        match source {
            DiskSource::Empty => Ok(Arc::new(DiskImage::empty())),
            DiskSource::Image(i) => Ok(i.clone()),
            DiskSource::Dir(dir) => {
                let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(i) = images.get(dir) {
                    return Ok(i.clone());
                }
                let image = Arc::new(load_image(dir)?);
                images.insert(dir.clone(), image.clone());
                Ok(image)
            }
        }
    }
}
