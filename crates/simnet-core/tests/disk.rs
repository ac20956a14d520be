//! The disk model: POSIX answers as wasmtime-wasi gives them on Linux, durability
//! (what a sync makes durable, what a crash may take), capacity, and crash outcomes
//! that a real disk could produce and no other.

use std::collections::BTreeMap;

use proptest::prelude::*;
use simnet_core::SimTime;
use simnet_core::disk::{
    CrashLoss, Disk, DiskConfig, DiskImage, FsError, NodeId, NodeKind, OpenOptions,
};
use simnet_core::{Bytes, derive_rng};

fn disk() -> (Disk, NodeId) {
    seeded_disk(0)
}

fn seeded_disk(seed: u64) -> (Disk, NodeId) {
    let mut d = Disk::new(DiskConfig::default(), derive_rng(seed, "disk"));
    let root = d.mount("/data", &DiskImage::empty(), false).unwrap();
    (d, root)
}

const T: SimTime = SimTime::ZERO;

fn create(d: &mut Disk, dir: NodeId, path: &str) -> NodeId {
    let opts = OpenOptions {
        create: true,
        write: true,
        follow: true,
        ..OpenOptions::default()
    };
    d.open_at(dir, path, opts, T).unwrap()
}

fn open(d: &mut Disk, dir: NodeId, path: &str) -> Result<NodeId, FsError> {
    let opts = OpenOptions {
        follow: true,
        ..OpenOptions::default()
    };
    d.open_at(dir, path, opts, T)
}

fn write(d: &mut Disk, f: NodeId, text: &str) {
    let end = d.size(f).unwrap();
    d.write(f, end, Bytes::copy_from_slice(text.as_bytes()), T)
        .unwrap();
}

fn text(d: &mut Disk, f: NodeId) -> String {
    String::from_utf8(d.read(f, 0, 1 << 20).unwrap()).unwrap()
}

fn crash(d: &mut Disk, loss: CrashLoss) -> simnet_core::disk::CrashReport {
    d.crash(Some(loss))
}

/// Every path under `dir` with its kind, for comparing trees.
fn tree(d: &mut Disk, dir: NodeId, prefix: &str, out: &mut BTreeMap<String, NodeKind>) {
    for e in d.read_directory(dir).unwrap() {
        let path = format!("{prefix}/{}", e.name);
        out.insert(path.clone(), e.kind);
        if e.kind == NodeKind::Directory {
            tree(d, e.node, &path, out);
        }
    }
}

fn listing(d: &mut Disk, dir: NodeId) -> BTreeMap<String, NodeKind> {
    let mut out = BTreeMap::new();
    tree(d, dir, "", &mut out);
    out
}

#[test]
fn paths_resolve_as_on_linux_beneath_their_directory() {
    let (mut d, root) = disk();
    d.create_directory_at(root, "a", T).unwrap();
    let f = create(&mut d, root, "a/file");
    write(&mut d, f, "hello");
    assert_eq!(open(&mut d, root, "a/./file"), Ok(f));
    assert_eq!(open(&mut d, root, "a//file"), Ok(f));
    assert_eq!(open(&mut d, root, "a/../a/file"), Ok(f));
    // Never above the directory resolution starts from.
    assert_eq!(open(&mut d, root, ".."), Err(FsError::NotPermitted));
    assert_eq!(open(&mut d, root, "a/../.."), Err(FsError::NotPermitted));
    assert_eq!(
        open(&mut d, root, "/data/a/file"),
        Err(FsError::NotPermitted)
    );
    let a = open(&mut d, root, "a").unwrap();
    assert_eq!(open(&mut d, a, "../a/file"), Err(FsError::NotPermitted));
    assert_eq!(open(&mut d, root, "a/file/"), Err(FsError::NotDirectory));
    assert_eq!(open(&mut d, root, "a/file/x"), Err(FsError::NotDirectory));
    assert_eq!(open(&mut d, root, "a/missing"), Err(FsError::NoEntry));
    assert_eq!(open(&mut d, root, ""), Err(FsError::NoEntry));
    assert_eq!(
        open(&mut d, root, &"n".repeat(256)),
        Err(FsError::NameTooLong)
    );
    assert_eq!(
        open(&mut d, root, &"a/".repeat(3000)),
        Err(FsError::NameTooLong)
    );
    // A path of a hundred thousand components is refused, not walked.
    assert_eq!(
        open(&mut d, root, &"./".repeat(100_000)),
        Err(FsError::NameTooLong)
    );
}

#[test]
fn symbolic_links_are_followed_within_bounds() {
    let (mut d, root) = disk();
    let f = create(&mut d, root, "target");
    d.symlink_at(root, "target", "link", T).unwrap();
    d.symlink_at(root, "link", "link2", T).unwrap();
    assert_eq!(open(&mut d, root, "link2"), Ok(f));
    assert_eq!(d.readlink_at(root, "link2").unwrap(), "link");
    assert_eq!(d.readlink_at(root, "target"), Err(FsError::Invalid));
    // Not followed as the last component: an open of the link itself is a loop.
    let nofollow = OpenOptions::default();
    assert_eq!(d.open_at(root, "link", nofollow, T), Err(FsError::Loop));
    d.symlink_at(root, "loop", "loop", T).unwrap();
    assert_eq!(open(&mut d, root, "loop"), Err(FsError::Loop));
    // A link to an absolute path is refused, as cap-std refuses it.
    assert_eq!(
        d.symlink_at(root, "/etc/passwd", "abs", T),
        Err(FsError::NotPermitted)
    );
    d.symlink_at(root, "../outside", "up", T).unwrap();
    assert_eq!(open(&mut d, root, "up"), Err(FsError::NotPermitted));
    d.symlink_at(root, "nowhere", "dangling", T).unwrap();
    assert_eq!(open(&mut d, root, "dangling"), Err(FsError::NoEntry));
    // Creating through a dangling link creates its target, unless exclusive.
    let made = create(&mut d, root, "dangling");
    assert_eq!(open(&mut d, root, "nowhere"), Ok(made));
    let excl = OpenOptions {
        create: true,
        exclusive: true,
        follow: true,
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(d.open_at(root, "link", excl, T), Err(FsError::Exist));
}

#[test]
fn entries_change_as_on_linux() {
    let (mut d, root) = disk();
    d.create_directory_at(root, "dir", T).unwrap();
    assert_eq!(d.create_directory_at(root, "dir", T), Err(FsError::Exist));
    let f = create(&mut d, root, "dir/f");
    assert_eq!(
        d.remove_directory_at(root, "dir", T),
        Err(FsError::NotEmpty)
    );
    assert_eq!(d.unlink_file_at(root, "dir", T), Err(FsError::IsDirectory));
    assert_eq!(
        d.remove_directory_at(root, "dir/f", T),
        Err(FsError::NotDirectory)
    );
    assert_eq!(d.remove_directory_at(root, ".", T), Err(FsError::Invalid));
    // A rename over an existing file replaces it atomically.
    let g = create(&mut d, root, "g");
    write(&mut d, g, "new");
    d.rename_at(root, "g", root, "dir/f", T).unwrap();
    assert_eq!(open(&mut d, root, "dir/f"), Ok(g));
    assert_eq!(open(&mut d, root, "g"), Err(FsError::NoEntry));
    // The replaced file lived while open: it still reads.
    let _ = f;
    // A directory cannot move beneath itself, nor over a non-empty one.
    d.create_directory_at(root, "dir/sub", T).unwrap();
    assert_eq!(
        d.rename_at(root, "dir", root, "dir/sub/x", T),
        Err(FsError::Invalid)
    );
    d.create_directory_at(root, "other", T).unwrap();
    assert_eq!(
        d.rename_at(root, "other", root, "dir", T),
        Err(FsError::NotEmpty)
    );
    assert_eq!(
        d.rename_at(root, "dir/f", root, "other", T),
        Err(FsError::IsDirectory)
    );
    assert_eq!(
        d.rename_at(root, "other", root, "dir/f", T),
        Err(FsError::NotDirectory)
    );
    assert_eq!(
        d.rename_at(root, "dir/f", root, "x/", T),
        Err(FsError::NotDirectory)
    );
    // Hard links count; directories cannot be linked.
    d.link_at(root, false, "dir/f", root, "hard", T).unwrap();
    assert_eq!(d.stat_at(root, "hard", false).unwrap().links, 2);
    assert_eq!(
        d.link_at(root, false, "dir", root, "dirlink", T),
        Err(FsError::NotPermitted)
    );
    assert_eq!(
        d.link_at(root, false, "dir/f", root, "hard", T),
        Err(FsError::Exist)
    );
    // A directory counts its subdirectories' `..`.
    assert_eq!(d.stat_at(root, "dir", false).unwrap().links, 3);
}

#[test]
fn an_unlinked_open_file_lives_until_released() {
    let (mut d, root) = disk();
    let f = create(&mut d, root, "tmp");
    d.hold(f);
    write(&mut d, f, "still here");
    d.unlink_file_at(root, "tmp", T).unwrap();
    d.sync(root, T).unwrap();
    assert_eq!(text(&mut d, f), "still here");
    assert_eq!(d.stat(f).unwrap().links, 0);
    d.release(f);
    assert_eq!(d.stat(f), Err(FsError::BadDescriptor));
    assert_eq!(
        d.used(),
        2 * simnet_core::disk::PAGE as u64,
        "two directories left"
    );
}

#[test]
fn a_full_disk_refuses_writes_that_need_space() {
    let config = DiskConfig {
        capacity: 4 * 4096,
        ..DiskConfig::default()
    };
    let mut d = Disk::new(config, derive_rng(0, "disk"));
    let root = d.mount("/data", &DiskImage::empty(), false).unwrap();
    let f = create(&mut d, root, "f");
    // The root and the mount take two pages.
    d.write(f, 0, Bytes::from(vec![1; 8192]), T).unwrap();
    assert_eq!(
        d.write(f, 8192, Bytes::from(vec![1; 1]), T),
        Err(FsError::InsufficientSpace)
    );
    // Rewriting what is allocated needs no space.
    d.write(f, 100, Bytes::from(vec![2; 100]), T).unwrap();
    assert_eq!(
        d.create_directory_at(root, "d", T),
        Err(FsError::InsufficientSpace)
    );
    d.set_len(f, 0, T).unwrap();
    d.create_directory_at(root, "d", T).unwrap();
}

#[test]
fn syncs_decide_what_a_crash_keeps() {
    let (mut d, root) = disk();
    let synced = create(&mut d, root, "synced");
    write(&mut d, synced, "kept");
    d.sync_data(synced, T).unwrap();
    let unsynced = create(&mut d, root, "unsynced");
    write(&mut d, unsynced, "lost");
    // The directory is synced after both were created: both entries are durable.
    d.sync(root, T).unwrap();
    write(&mut d, synced, " and more");
    write(&mut d, unsynced, " again");
    let report = crash(&mut d, CrashLoss::All);
    assert_eq!(report.files.len(), 2, "{report:?}");
    let synced = open(&mut d, root, "synced").unwrap();
    let unsynced = open(&mut d, root, "unsynced").unwrap();
    assert_eq!(text(&mut d, synced), "kept");
    assert_eq!(text(&mut d, unsynced), "");
    // A file created after the directory's last sync is gone with its entry.
    let late = create(&mut d, root, "late");
    write(&mut d, late, "data");
    d.sync(late, T).unwrap();
    d.rename_at(root, "synced", root, "renamed", T).unwrap();
    let report = crash(&mut d, CrashLoss::All);
    assert_eq!(report.entry_changes, 2, "{report:?}");
    assert_eq!(open(&mut d, root, "late"), Err(FsError::NoEntry));
    assert!(
        open(&mut d, root, "synced").is_ok(),
        "the rename was undone"
    );
    // Nothing is lost when the crash keeps everything.
    let f = create(&mut d, root, "all");
    write(&mut d, f, "everything");
    let report = crash(&mut d, CrashLoss::Nothing);
    assert!(!report.lost_anything(), "{report:?}");
    let f = open(&mut d, root, "all").unwrap();
    assert_eq!(text(&mut d, f), "everything");
}

#[test]
fn a_sync_waits_for_the_device_and_cached_writes_do_not() {
    let (mut d, root) = disk();
    let f = create(&mut d, root, "f");
    let _ = d.take_cost();
    d.write(f, 0, Bytes::from(vec![0; 1 << 20]), T).unwrap();
    let write = d.take_cost();
    d.sync_data(f, T).unwrap();
    let sync = d.take_cost();
    let config = DiskConfig::default();
    assert!(write < config.sync_latency, "{write:?}");
    // 1 MiB at 500 MB/s after the flush latency.
    assert_eq!(
        sync,
        config.sync_latency + std::time::Duration::from_nanos(2_097_152)
    );
    // A second sync issued at the same instant queues behind the first.
    write_at(&mut d, f);
    d.sync(f, T).unwrap();
    assert!(d.take_cost() > sync);
}

fn write_at(d: &mut Disk, f: NodeId) {
    d.write(f, 0, Bytes::from_static(b"x"), T).unwrap();
}

#[test]
fn images_are_shared_and_never_changed_by_the_disks_made_from_them() {
    let mut image = DiskImage::empty();
    image.add_file("config/app.toml", b"port = 7").unwrap();
    image.add_symlink("current", "config").unwrap();
    let mut a = Disk::new(DiskConfig::default(), derive_rng(0, "a"));
    let ra = a.mount("/srv", &image, false).unwrap();
    let f = open(&mut a, ra, "current/app.toml").unwrap();
    a.write(f, 0, Bytes::from_static(b"PORT"), T).unwrap();
    let mut b = Disk::new(DiskConfig::default(), derive_rng(0, "b"));
    let rb = b.mount("/srv", &image, false).unwrap();
    let g = open(&mut b, rb, "config/app.toml").unwrap();
    assert_eq!(text(&mut b, g), "port = 7");
    assert_eq!(text(&mut a, f), "PORT = 7");
    // The image counts as durable.
    let report = crash(&mut b, CrashLoss::All);
    assert!(!report.lost_anything());
}

/// A metadata operation on a small namespace.
#[derive(Clone, Debug)]
enum Op {
    Create(u8),
    Mkdir(u8),
    Unlink(u8),
    Rmdir(u8),
    Rename(u8, u8),
    Link(u8, u8),
    Write(u8, u8),
    SyncDir,
    SyncFile(u8),
}

fn name(i: u8) -> String {
    // Names in two directories, so that renames cross them.
    match i % 6 {
        0 => "a".into(),
        1 => "b".into(),
        2 => "c".into(),
        3 => "sub/a".into(),
        4 => "sub/b".into(),
        _ => "sub".into(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..6u8).prop_map(Op::Create),
        (0..6u8).prop_map(Op::Mkdir),
        (0..6u8).prop_map(Op::Unlink),
        (0..6u8).prop_map(Op::Rmdir),
        (0..6u8, 0..6u8).prop_map(|(a, b)| Op::Rename(a, b)),
        (0..6u8, 0..6u8).prop_map(|(a, b)| Op::Link(a, b)),
        (0..6u8, any::<u8>()).prop_map(|(a, b)| Op::Write(a, b)),
        Just(Op::SyncDir),
        (0..6u8).prop_map(Op::SyncFile),
    ]
}

/// What an operation did: changed the directory tree, or committed the journal.
#[derive(PartialEq)]
enum Did {
    Changed,
    Committed,
    Nothing,
}

/// Apply `op`.
fn apply(d: &mut Disk, root: NodeId, op: &Op) -> Did {
    let r = match op {
        Op::Create(i) => {
            let opts = OpenOptions {
                create: true,
                exclusive: true,
                write: true,
                ..OpenOptions::default()
            };
            d.open_at(root, &name(*i), opts, T).map(|_| ())
        }
        Op::Mkdir(i) => d.create_directory_at(root, &name(*i), T),
        Op::Unlink(i) => d.unlink_file_at(root, &name(*i), T),
        Op::Rmdir(i) => d.remove_directory_at(root, &name(*i), T),
        Op::Rename(a, b) => d.rename_at(root, &name(*a), root, &name(*b), T),
        Op::Link(a, b) => d.link_at(root, false, &name(*a), root, &name(*b), T),
        Op::Write(i, byte) => {
            if let Ok(f) = open(d, root, &name(*i))
                && d.kind(f) == Some(NodeKind::File)
            {
                let end = d.size(f).unwrap();
                let _ = d.write(f, end, Bytes::from(vec![*byte; 700]), T);
            }
            return Did::Nothing;
        }
        Op::SyncDir => {
            let _ = d.sync(root, T);
            return Did::Committed;
        }
        // Syncing a directory commits the journal, whichever directory it is.
        Op::SyncFile(i) => {
            return match open(d, root, &name(*i)) {
                Ok(f) if d.kind(f) == Some(NodeKind::Directory) => {
                    let _ = d.sync(f, T);
                    Did::Committed
                }
                Ok(f) => {
                    let _ = d.sync(f, T);
                    Did::Nothing
                }
                Err(_) => Did::Nothing,
            };
        }
    };
    match r {
        Ok(()) => Did::Changed,
        Err(_) => Did::Nothing,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// After a crash the tree is one the operations passed through, no older than
    /// the last directory sync: never a mix no disk could produce, never a loss of
    /// what was synced.
    #[test]
    fn a_crash_leaves_a_tree_the_operations_passed_through(
        ops in proptest::collection::vec(op(), 1..40),
        loss in prop_oneof![
            Just(CrashLoss::All), Just(CrashLoss::Nothing),
            Just(CrashLoss::Prefix), Just(CrashLoss::Torn)
        ],
        seed in 0..1000u64,
    ) {
        let (mut d, root) = seeded_disk(seed);
        let mut states = vec![listing(&mut d, root)];
        let mut durable_from = 0;
        for op in &ops {
            match apply(&mut d, root, op) {
                Did::Changed => states.push(listing(&mut d, root)),
                Did::Committed => durable_from = states.len() - 1,
                Did::Nothing => {}
            }
        }
        let before_crash = states.len() - 1;
        d.crash(Some(loss));
        let after = listing(&mut d, root);
        let candidates = &states[durable_from..];
        prop_assert!(
            candidates.contains(&after),
            "after the crash: {after:?}\nnot among the states since the last sync: {candidates:?}"
        );
        match loss {
            CrashLoss::All => prop_assert_eq!(&after, &states[durable_from]),
            CrashLoss::Nothing => prop_assert_eq!(&after, &states[before_crash]),
            _ => {}
        }
    }

    /// Data synced survives any crash: a file's content after a crash is its synced
    /// content with a prefix of the later writes (some sectors of the first lost
    /// one, when torn), and the same seed gives the same content.
    #[test]
    fn synced_data_survives_and_the_rest_is_a_prefix(
        writes in proptest::collection::vec((0..5000u64, 1..3000usize, any::<u8>()), 1..12),
        synced in 0..12usize,
        torn in any::<bool>(),
        seed in 0..1000u64,
    ) {
        let loss = if torn { CrashLoss::Torn } else { CrashLoss::Prefix };
        let (mut d, root) = disk();
        let f = create(&mut d, root, "f");
        d.sync(root, T).unwrap();
        let mut versions = vec![Vec::new()];
        for (i, (offset, len, byte)) in writes.iter().enumerate() {
            d.write(f, *offset, Bytes::from(vec![*byte; *len]), T).unwrap();
            versions.push(d.read(f, 0, 1 << 20).unwrap());
            if i + 1 == synced {
                d.sync_data(f, T).unwrap();
            }
        }
        // The version the sync made durable (none synced: the empty file).
        let first_kept = if synced <= writes.len() { synced } else { 0 };
        let run = |seed| {
            let (mut d2, root2) = seeded_disk(seed);
            let f2 = create(&mut d2, root2, "f");
            d2.sync(root2, T).unwrap();
            for (i, (offset, len, byte)) in writes.iter().enumerate() {
                d2.write(f2, *offset, Bytes::from(vec![*byte; *len]), T).unwrap();
                if i + 1 == synced {
                    d2.sync_data(f2, T).unwrap();
                }
            }
            d2.crash(Some(loss));
            let f2 = open(&mut d2, root2, "f").unwrap();
            d2.read(f2, 0, 1 << 20).unwrap()
        };
        let after = run(seed);
        prop_assert_eq!(&after, &run(seed), "the same seed gives the same content");
        if !torn {
            prop_assert!(
                versions[first_kept..].contains(&after),
                "content after the crash is no version since the sync"
            );
        } else {
            // Torn: between two consecutive versions, byte by byte.
            let ok = versions[first_kept..].windows(2).any(|w| {
                after.len() >= w[0].len().min(w[1].len())
                    && after.len() <= w[0].len().max(w[1].len())
                    && after.iter().enumerate().all(|(i, b)| {
                        w[0].get(i) == Some(b) || w[1].get(i) == Some(b)
                    })
            }) || versions[first_kept..].contains(&after);
            prop_assert!(ok, "a torn write left bytes of no version");
        }
    }
}

mod faults {
    use super::*;
    use simnet_core::{DiskEffect, DiskFault, DiskOp};

    #[test]
    fn io_errors_hit_the_operations_and_paths_they_name() {
        let (mut d, root) = disk();
        d.create_directory_at(root, "wal", T).unwrap();
        let wal = create(&mut d, root, "wal/seg");
        let other = create(&mut d, root, "other");
        d.add_fault(DiskFault::IoError {
            op: DiskOp::Write,
            path: Some("/data/wal".into()),
            probability: 1.0,
        });
        assert_eq!(
            d.write(wal, 0, Bytes::from_static(b"x"), T),
            Err(FsError::Io)
        );
        assert!(d.write(other, 0, Bytes::from_static(b"x"), T).is_ok());
        assert!(d.read(wal, 0, 10).is_ok(), "reads are not writes");
        assert_eq!(
            d.create_directory_at(root, "wal/sub", T),
            Err(FsError::Io),
            "a new entry under the path is a write"
        );
        let effects = d.take_effects();
        assert_eq!(effects.len(), 2);
        assert!(
            effects
                .iter()
                .all(|(e, _)| *e == DiskEffect::IoError(DiskOp::Write))
        );
        d.heal_faults();
        assert!(d.write(wal, 0, Bytes::from_static(b"x"), T).is_ok());
    }

    #[test]
    fn a_full_disk_refuses_growth_and_a_slow_one_costs_more() {
        let (mut d, root) = disk();
        let f = create(&mut d, root, "f");
        d.write(f, 0, Bytes::from(vec![1; 100]), T).unwrap();
        d.add_fault(DiskFault::Full);
        // Within the page already held: fine.
        assert!(d.write(f, 100, Bytes::from(vec![1; 100]), T).is_ok());
        assert_eq!(
            d.write(f, 5000, Bytes::from(vec![1; 10]), T),
            Err(FsError::InsufficientSpace)
        );
        d.heal_faults();
        let _ = d.take_cost();
        d.write(f, 0, Bytes::from_static(b"x"), T).unwrap();
        let normal = d.take_cost();
        d.add_fault(DiskFault::Slow {
            extra: std::time::Duration::from_millis(20),
        });
        d.write(f, 0, Bytes::from_static(b"x"), T).unwrap();
        assert_eq!(d.take_cost(), normal + std::time::Duration::from_millis(20));
    }

    #[test]
    fn a_lying_sync_makes_nothing_durable() {
        let (mut d, root) = disk();
        let f = create(&mut d, root, "f");
        d.sync(root, T).unwrap();
        d.add_fault(DiskFault::LyingSync);
        write(&mut d, f, "acknowledged");
        d.sync(f, T).unwrap();
        assert_eq!(d.durable_contents(f).unwrap(), b"");
        d.crash(Some(CrashLoss::All));
        let f = open(&mut d, root, "f").unwrap();
        assert_eq!(text(&mut d, f), "");
    }

    #[test]
    fn lost_and_misdirected_writes_show_after_a_crash_only() {
        let (mut d, root) = disk();
        let f = create(&mut d, root, "f");
        d.sync(root, T).unwrap();
        d.add_fault(DiskFault::LostWrites { probability: 1.0 });
        write(&mut d, f, "lost");
        d.sync(f, T).unwrap();
        assert_eq!(text(&mut d, f), "lost", "the page cache reads right");
        d.heal_faults();
        d.crash(Some(CrashLoss::All));
        let f = open(&mut d, root, "f").unwrap();
        assert_eq!(text(&mut d, f), "", "the media never got it");
        d.add_fault(DiskFault::MisdirectedWrites { probability: 1.0 });
        d.write(f, 0, Bytes::from_static(b"here"), T).unwrap();
        d.sync(f, T).unwrap();
        d.crash(Some(CrashLoss::All));
        let f = open(&mut d, root, "f").unwrap();
        let after = d.read(f, 0, 1 << 20).unwrap();
        assert_eq!(after.len(), 512 + 4);
        assert_eq!(&after[512..], b"here");
        assert!(after[..4].iter().all(|&b| b == 0));
    }

    #[test]
    fn corrupt_reads_flip_one_bit_and_leave_the_data_alone() {
        let (mut d, root) = disk();
        let f = create(&mut d, root, "f");
        write(&mut d, f, "exact bytes");
        d.add_fault(DiskFault::CorruptReads { probability: 1.0 });
        let read = d.read(f, 0, 100).unwrap();
        let flipped: u32 = read
            .iter()
            .zip(b"exact bytes")
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1);
        assert_eq!(d.contents(f).unwrap(), b"exact bytes");
    }
}

#[test]
fn file_sizes_stop_at_ext4s_limit_and_cost_only_what_is_written() {
    const MAX: u64 = (1 << 44) - 4096;
    let (mut d, root) = disk();
    let f = create(&mut d, root, "sparse");
    // Far offsets and huge sizes cost the pages written, not the length.
    assert_eq!(d.write(f, 1 << 40, Bytes::from_static(b"x"), T), Ok(1));
    assert_eq!(d.set_len(f, MAX, T), Ok(()));
    assert!(d.used() < 1 << 20, "used {}", d.used());
    assert_eq!(d.stat(f).unwrap().size, MAX);
    // Past the limit: file-too-large; past the largest offset: invalid.
    assert_eq!(d.set_len(f, MAX + 1, T), Err(FsError::FileTooLarge));
    assert_eq!(d.set_len(f, 1 << 63, T), Err(FsError::Invalid));
    assert_eq!(
        d.write(f, MAX, Bytes::from_static(b"x"), T),
        Err(FsError::FileTooLarge)
    );
    assert_eq!(
        d.write(f, u64::MAX - 1, Bytes::from_static(b"abc"), T),
        Err(FsError::Invalid)
    );
    assert_eq!(d.read(f, 1 << 63, 4), Err(FsError::Invalid));
    // A write crossing the limit is cut short there.
    assert_eq!(d.write(f, MAX - 2, Bytes::from_static(b"abcd"), T), Ok(2));
    assert_eq!(d.read(f, MAX - 2, 10).unwrap(), b"ab");
    // A crash and the first read after it cost the stored bytes, not the length.
    d.sync(f, T).unwrap();
    d.sync(root, T).unwrap();
    crash(&mut d, CrashLoss::All);
    let f = open(&mut d, root, "sparse").unwrap();
    d.read(f, 0, 1).unwrap();
    assert!(d.take_cost() < std::time::Duration::from_millis(10));
}

#[test]
fn a_removed_directory_takes_no_entries_and_leaks_nothing() {
    let (mut d, root) = disk();
    d.create_directory_at(root, "gone", T).unwrap();
    let gone = open(&mut d, root, "gone").unwrap();
    d.hold(gone);
    let used = d.used();
    d.remove_directory_at(root, "gone", T).unwrap();
    let f = create(&mut d, root, "f");
    let opts = OpenOptions {
        create: true,
        write: true,
        ..OpenOptions::default()
    };
    assert_eq!(d.open_at(gone, "x", opts, T), Err(FsError::NoEntry));
    assert_eq!(d.create_directory_at(gone, "sub", T), Err(FsError::NoEntry));
    assert_eq!(d.symlink_at(gone, "t", "l", T), Err(FsError::NoEntry));
    assert_eq!(
        d.link_at(root, false, "f", gone, "f", T),
        Err(FsError::NoEntry)
    );
    assert_eq!(d.rename_at(root, "f", gone, "f", T), Err(FsError::NoEntry));
    assert_eq!(d.stat(gone).unwrap().links, 0);
    assert!(d.read_directory(gone).unwrap().is_empty());
    d.unlink_file_at(root, "f", T).unwrap();
    let _ = f;
    d.release(gone);
    d.sync(root, T).unwrap();
    assert!(d.used() < used, "{} then {}", used, d.used());
}

#[test]
fn a_trailing_slash_does_not_follow_the_link_an_entry_call_names() {
    let (mut d, root) = disk();
    d.create_directory_at(root, "d", T).unwrap();
    create(&mut d, root, "f");
    d.symlink_at(root, "d", "l", T).unwrap();
    d.symlink_at(root, "nowhere", "dang", T).unwrap();
    assert_eq!(
        d.rename_at(root, "l/", root, "m", T),
        Err(FsError::NotDirectory)
    );
    assert_eq!(
        d.rename_at(root, "f", root, "l/", T),
        Err(FsError::NotDirectory)
    );
    assert_eq!(d.create_directory_at(root, "dang/", T), Err(FsError::Exist));
    assert_eq!(d.create_directory_at(root, "l/", T), Err(FsError::Exist));
    assert_eq!(
        d.link_at(root, false, "f", root, "l/", T),
        Err(FsError::Exist)
    );
    assert_eq!(open(&mut d, root, "m"), Err(FsError::NoEntry));
    assert_eq!(open(&mut d, root, "nowhere"), Err(FsError::NoEntry));
    // Opening still follows a link named with a trailing slash.
    let through = d.open_at(root, "l/", OpenOptions::default(), T).unwrap();
    assert_eq!(d.kind(through), Some(NodeKind::Directory));
}

#[test]
fn symbolic_link_targets_are_bounded_and_long_ones_take_a_block() {
    let (mut d, root) = disk();
    let used = d.used();
    d.symlink_at(root, &"t".repeat(59), "short", T).unwrap();
    assert_eq!(d.used(), used, "a short target stays in the inode");
    d.symlink_at(root, &"t".repeat(60), "long", T).unwrap();
    assert_eq!(d.used(), used + 4096);
    assert_eq!(
        d.symlink_at(root, &"t".repeat(4096), "longer", T),
        Err(FsError::NameTooLong)
    );
    assert_eq!(d.symlink_at(root, "a\0b", "nul", T), Err(FsError::Invalid));
    // A small disk fills up with long links like anything else.
    let mut small = Disk::new(
        DiskConfig {
            capacity: 64 * 1024,
            ..DiskConfig::default()
        },
        derive_rng(1, "disk"),
    );
    let root = small.mount("/data", &DiskImage::empty(), false).unwrap();
    let made = (0..100)
        .take_while(|i| {
            small
                .symlink_at(root, &"t".repeat(100), &format!("l{i}"), T)
                .is_ok()
        })
        .count();
    assert!(made < 16, "{made} links of a block each on 64 KiB");
}

fn small_disk(capacity: u64) -> (Disk, NodeId) {
    let config = DiskConfig {
        capacity,
        ..DiskConfig::default()
    };
    let mut d = Disk::new(config, derive_rng(5, "disk"));
    let root = d.mount("/data", &DiskImage::empty(), false).unwrap();
    (d, root)
}

#[test]
fn space_freed_but_not_committed_is_reclaimed_before_the_disk_is_full() {
    let (mut d, root) = small_disk(64 * 1024);
    let forty = Bytes::from(vec![1u8; 40 * 1024]);
    let f = create(&mut d, root, "f");
    d.write(f, 0, forty.clone(), T).unwrap();
    d.sync(f, T).unwrap();
    d.sync(root, T).unwrap();
    // The truncate frees nothing yet: a crash could bring the pages back.
    d.set_len(f, 0, T).unwrap();
    assert!(d.used() >= 40 * 1024);
    // Writing another 40 KiB forces the commit that frees them (ext4 retries an
    // allocation after a commit); a crash then keeps the disk within its capacity.
    let g = create(&mut d, root, "g");
    assert_eq!(d.write(g, 0, forty, T), Ok(40 * 1024));
    d.sync(g, T).unwrap();
    d.sync(root, T).unwrap();
    for loss in [CrashLoss::All, CrashLoss::Nothing] {
        crash(&mut d, loss);
        assert!(d.used() <= 64 * 1024, "{loss:?}: used {}", d.used());
        let f = open(&mut d, root, "f").unwrap();
        assert_eq!(d.stat(f).unwrap().size, 0);
    }
}

#[test]
fn deleted_temporary_files_do_not_fill_the_disk_without_directory_syncs() {
    let (mut d, root) = small_disk(2 << 20);
    let chunk = Bytes::from(vec![7u8; 512 * 1024]);
    for round in 0..40 {
        let f = create(&mut d, root, "tmp");
        assert_eq!(
            d.write(f, 0, chunk.clone(), T),
            Ok(512 * 1024),
            "round {round}"
        );
        d.unlink_file_at(root, "tmp", T).unwrap();
    }
    assert!(d.used() <= 2 << 20);
}

#[test]
fn paths_follow_a_renamed_directory_and_a_crash_that_undoes_it() {
    let (mut d, root) = disk();
    d.create_directory_at(root, "a", T).unwrap();
    let f = create(&mut d, root, "a/f");
    d.sync(root, T).unwrap();
    let a = open(&mut d, root, "a").unwrap();
    d.sync(a, T).unwrap();
    d.rename_at(root, "a", root, "b", T).unwrap();
    assert_eq!(d.node_path(f), Some("/data/b/f"));
    crash(&mut d, CrashLoss::All);
    assert_eq!(open(&mut d, root, "a/f"), Ok(f));
    assert_eq!(d.node_path(f), Some("/data/a/f"));
}

#[test]
fn mounting_a_directory_over_a_file_of_that_name_frees_the_file() {
    let mut d = Disk::new(DiskConfig::default(), derive_rng(2, "disk"));
    let mut files = DiskImage::empty();
    files.add_file("x", &[1; 3 * 4096]).unwrap();
    let mut dirs = DiskImage::empty();
    dirs.add_dir("x").unwrap();
    let empty = d.used();
    d.mount("/data", &DiskImage::empty(), false).unwrap();
    let with_root = d.used();
    d.mount("/data", &files, false).unwrap();
    assert!(d.used() > with_root);
    let root = d.find("/data").unwrap();
    d.mount("/data", &dirs, false).unwrap();
    d.sync(root, T).unwrap();
    assert_eq!(
        d.kind(d.find("/data/x").unwrap()),
        Some(NodeKind::Directory)
    );
    assert_eq!(d.used(), with_root + 4096, "only the new directory's block");
    assert!(with_root > empty);
}
