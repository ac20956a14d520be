//! Filesystem calls in every state the conformance test cares about, each result
//! printed, through Rust's std (as programs use files) and through raw
//! `wasi:filesystem` (flags, descriptor types, links, streams): run on a simulated
//! disk and on wasmtime-wasi over a real directory, the output must be the same.
//! Usage: conformance-files DIR (an empty directory the guest may change).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};

fn show<T: std::fmt::Debug>(what: &str, r: std::io::Result<T>) {
    match r {
        Ok(v) => println!("{what}: ok {v:?}"),
        Err(e) => println!("{what}: {}", error(&e)),
    }
}

fn error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("err {:?} (errno {code})", e.kind()),
        None => format!("err {:?}", e.kind()),
    }
}

fn read(path: &str) -> String {
    match fs::read(path) {
        Ok(bytes) => format!("{:?}", String::from_utf8_lossy(&bytes)),
        Err(e) => error(&e),
    }
}

fn listing(dir: &str) -> String {
    match fs::read_dir(dir) {
        Ok(entries) => {
            let mut names: Vec<String> = entries
                .map(|e| {
                    let e = e.expect("entry");
                    let kind = match e.file_type() {
                        Ok(t) if t.is_dir() => "dir",
                        Ok(t) if t.is_symlink() => "link",
                        Ok(_) => "file",
                        Err(_) => "?",
                    };
                    format!("{}:{kind}", e.file_name().to_string_lossy())
                })
                .collect();
            names.sort();
            format!("{names:?}")
        }
        Err(e) => error(&e),
    }
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: conformance-files DIR");
    let p = |name: &str| format!("{dir}/{name}");
    std_files(&p);
    std_dirs(&p);
    std_errors(&p);
    raw::run(&dir);
    println!("listing at the end: {}", listing(&dir));
    println!("== done");
}

fn std_files(p: &dyn Fn(&str) -> String) {
    println!("== std files");
    show("create a.txt", File::create(p("a.txt")).map(|_| ()));
    show("write a.txt", fs::write(p("a.txt"), "hello"));
    println!("read a.txt: {}", read(&p("a.txt")));
    show("len a.txt", fs::metadata(p("a.txt")).map(|m| (m.len(), m.is_file())));
    let mut f = OpenOptions::new().append(true).open(p("a.txt")).expect("append");
    show("append", f.write_all(b" world"));
    drop(f);
    println!("read a.txt: {}", read(&p("a.txt")));
    let f = OpenOptions::new().write(true).open(p("a.txt")).expect("open rw");
    show("set_len 3", f.set_len(3));
    println!("read a.txt: {}", read(&p("a.txt")));
    show("set_len 8", f.set_len(8));
    println!("read a.txt: {}", read(&p("a.txt")));
    let mut f = OpenOptions::new().read(true).write(true).open(p("a.txt")).expect("open");
    show("seek 20", f.seek(SeekFrom::Start(20)));
    show("write at 20", f.write(b"tail"));
    show("seek end", f.seek(SeekFrom::End(0)));
    show("sync_all", f.sync_all());
    show("sync_data", f.sync_data());
    let mut back = Vec::new();
    show("seek 0", f.seek(SeekFrom::Start(0)));
    show("read all", f.read_to_end(&mut back));
    println!("bytes: {back:?}");
    drop(f);
    show("truncate on open", OpenOptions::new().write(true).truncate(true).open(p("a.txt")).map(|_| ()));
    show("len after truncate", fs::metadata(p("a.txt")).map(|m| m.len()));
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 % 251) as u8).collect();
    show("write 1 MiB", fs::write(p("big"), &big));
    match fs::read(p("big")) {
        Ok(b) => println!("read 1 MiB: same {}", b == big),
        Err(e) => println!("read 1 MiB: {}", error(&e)),
    }
    show("create_new a.txt", OpenOptions::new().write(true).create_new(true).open(p("a.txt")).map(|_| ()));
    show("create_new fresh", OpenOptions::new().write(true).create_new(true).open(p("fresh")).map(|_| ()));
    // An unlinked open file is still read.
    fs::write(p("doomed"), "still here").expect("write doomed");
    let mut doomed = File::open(p("doomed")).expect("open doomed");
    show("remove doomed", fs::remove_file(p("doomed")));
    let mut s = String::new();
    show("read unlinked", doomed.read_to_string(&mut s));
    println!("unlinked held: {s:?}");
    println!("doomed gone: {}", read(&p("doomed")));
}

fn std_dirs(p: &dyn Fn(&str) -> String) {
    println!("== std dirs");
    show("create_dir d", fs::create_dir(p("d")));
    show("create_dir d again", fs::create_dir(p("d")));
    show("create_dir_all d/e/f", fs::create_dir_all(p("d/e/f")));
    show("write d/e/x", fs::write(p("d/e/x"), "x"));
    println!("listing d: {}", listing(&p("d")));
    println!("listing d/e: {}", listing(&p("d/e")));
    show("remove_dir d (not empty)", fs::remove_dir(p("d")));
    show("remove_dir a.txt (a file)", fs::remove_dir(p("a.txt")));
    show("remove_file d (a dir)", fs::remove_file(p("d")));
    show("rename d/e/x -> d/y", fs::rename(p("d/e/x"), p("d/y")));
    println!("read d/y: {}", read(&p("d/y")));
    fs::write(p("over"), "new").expect("write over");
    fs::write(p("target"), "old").expect("write target");
    show("rename over an existing file", fs::rename(p("over"), p("target")));
    println!("read target: {}", read(&p("target")));
    println!("read over: {}", read(&p("over")));
    show("create_dir empty", fs::create_dir(p("empty")));
    show("rename dir over an empty dir", fs::rename(p("d/e/f"), p("empty")));
    show("rename dir over a non-empty dir", fs::rename(p("empty"), p("d")));
    show("rename file over a dir", fs::rename(p("target"), p("d")));
    show("rename dir over a file", fs::rename(p("d"), p("target")));
    show("rename dir into itself", fs::rename(p("d"), p("d/e/inside")));
    show("rename missing", fs::rename(p("missing"), p("x")));
    show("hard_link target -> linked", fs::hard_link(p("target"), p("linked")));
    show("remove target", fs::remove_file(p("target")));
    println!("read linked: {}", read(&p("linked")));
    show("hard_link to existing", fs::hard_link(p("linked"), p("d/y")));
    show("hard_link a dir", fs::hard_link(p("d"), p("dlink")));
    show("remove_dir_all d", fs::remove_dir_all(p("d")));
    println!("listing: {}", listing(&p("")));
}

fn std_errors(p: &dyn Fn(&str) -> String) {
    println!("== std errors");
    show("open missing", File::open(p("missing")).map(|_| ()));
    show("open file/", File::open(p("linked/")).map(|_| ()));
    show("open file/x", File::open(p("linked/x")).map(|_| ()));
    show("write to a dir", OpenOptions::new().write(true).open(p("empty")).map(|_| ()));
    show("create in missing dir", File::create(p("nowhere/x")).map(|_| ()));
    show("name too long", File::create(p(&"n".repeat(256))).map(|_| ()));
    show("name of 255", File::create(p(&"n".repeat(255))).map(|_| ()));
    show("remove name of 255", fs::remove_file(p(&"n".repeat(255))));
    show("open ..", File::open(p("../outside")).map(|_| ()));
    show("read a dir as a file", fs::read(p("empty")).map(|b| b.len()));
    show("metadata of a dir", fs::metadata(p("empty")).map(|m| m.is_dir()));
    let e = File::open(p("missing")).err().map(|e| e.kind());
    println!("missing is NotFound: {}", e == Some(ErrorKind::NotFound));
}

/// Raw `wasi:filesystem` calls: what std does not reach or hides.
mod raw {
    use wasi::filesystem::preopens::get_directories;
    use wasi::filesystem::types::{
        Descriptor, DescriptorFlags, ErrorCode, NewTimestamp, OpenFlags, PathFlags,
    };

    fn show<T: std::fmt::Debug>(what: &str, r: Result<T, ErrorCode>) {
        match r {
            Ok(v) => println!("{what}: ok {v:?}"),
            Err(e) => println!("{what}: err {}", e.name()),
        }
    }

    fn open(d: &Descriptor, path: &str, o: OpenFlags, f: DescriptorFlags) -> Result<Descriptor, ErrorCode> {
        d.open_at(PathFlags::empty(), path, o, f)
    }

    pub fn run(dir: &str) {
        println!("== raw wasi:filesystem");
        let dirs = get_directories();
        let Some((root, _)) = dirs.iter().find(|(_, name)| name == dir) else {
            println!("no preopen named {dir}");
            return;
        };
        let rw = DescriptorFlags::READ | DescriptorFlags::WRITE;
        show("root type", root.get_type());
        show("root flags", root.get_flags());
        let f = open(root, "raw", OpenFlags::CREATE, rw);
        show("create raw", f.as_ref().map(|_| ()).map_err(|e| *e));
        let Ok(f) = f else { return };
        show("type", f.get_type());
        show("flags", f.get_flags());
        show("write at 0", f.write(b"0123456789", 0));
        show("write past the end", f.write(b"far", 20));
        show("read 4 at 2", f.read(4, 2));
        show("read at the end", f.read(4, 23));
        show("read past the end", f.read(4, 100));
        show("read 0", f.read(0, 0));
        show("stat size", f.stat().map(|s| (s.type_, s.size, s.link_count)));
        show("set-size 5", f.set_size(5));
        show("read all", f.read(100, 0));
        show("sync", f.sync());
        show("sync-data", f.sync_data());
        show("advise", f.advise(0, 10, wasi::filesystem::types::Advice::Sequential));
        show("set-times mtime only", f.set_times(NewTimestamp::NoChange, NewTimestamp::Timestamp(wasi::clocks::wall_clock::Datetime { seconds: 1_000_000, nanoseconds: 5 })));
        show("mtime", f.stat().map(|s| s.data_modification_timestamp));
        println!("same object: {}", f.is_same_object(&f));
        println!("same object as root: {}", f.is_same_object(root));
        let hash = |h: Result<wasi::filesystem::types::MetadataHashValue, ErrorCode>| {
            h.ok().map(|h| (h.upper, h.lower))
        };
        println!(
            "same hash: {}",
            hash(f.metadata_hash()) == hash(root.metadata_hash_at(PathFlags::empty(), "raw"))
        );
        // Streams.
        match f.write_via_stream(5) {
            Ok(out) => {
                show("check-write > 0", out.check_write().map(|n| n > 0).map_err(|_| ErrorCode::Io));
                show("blocking write", out.blocking_write_and_flush(b"-stream").map_err(|_| ErrorCode::Io));
            }
            Err(e) => println!("write-via-stream: err {}", e.name()),
        }
        match f.append_via_stream() {
            Ok(out) => show("append", out.blocking_write_and_flush(b"+").map_err(|_| ErrorCode::Io)),
            Err(e) => println!("append-via-stream: err {}", e.name()),
        }
        match f.read_via_stream(0) {
            Ok(input) => {
                let mut all = Vec::new();
                loop {
                    match input.blocking_read(4) {
                        Ok(chunk) => all.extend(chunk),
                        Err(wasi::io::streams::StreamError::Closed) => break,
                        Err(_) => {
                            println!("stream read failed");
                            break;
                        }
                    }
                }
                println!("stream read: {:?}", String::from_utf8_lossy(&all));
            }
            Err(e) => println!("read-via-stream: err {}", e.name()),
        }
        show("read-via-stream of a dir", root.read_via_stream(0).map(|_| ()));
        show("write-via-stream of a dir", root.write_via_stream(0).map(|_| ()));
        show("read of a dir", root.read(1, 0));
        show("write of a dir", root.write(b"x", 0));
        show("set-size of a dir", root.set_size(0));
        show("advise on a dir", root.advise(0, 1, wasi::filesystem::types::Advice::Normal));
        let ro = open(root, "raw", OpenFlags::empty(), DescriptorFlags::READ);
        if let Ok(ro) = &ro {
            show("write to a read-only descriptor", ro.write(b"x", 0));
            show("set-size of a read-only descriptor", ro.set_size(0));
            show("read-only flags", ro.get_flags());
        }
        let wo = open(root, "raw", OpenFlags::empty(), DescriptorFlags::WRITE);
        if let Ok(wo) = &wo {
            show("read from a write-only descriptor", wo.read(1, 0));
        }
        // Open flags.
        show("directory flag on a file", open(root, "raw", OpenFlags::DIRECTORY, DescriptorFlags::READ).map(|_| ()));
        show("directory + create", open(root, "x", OpenFlags::DIRECTORY | OpenFlags::CREATE, DescriptorFlags::READ).map(|_| ()));
        show("exclusive on existing", open(root, "raw", OpenFlags::CREATE | OpenFlags::EXCLUSIVE, rw).map(|_| ()));
        show("write flag on a dir", open(root, ".", OpenFlags::empty(), rw).map(|_| ()));
        show("sync flags", open(root, "raw", OpenFlags::empty(), DescriptorFlags::READ | DescriptorFlags::FILE_INTEGRITY_SYNC).map(|_| ()));
        show("open .", open(root, ".", OpenFlags::empty(), DescriptorFlags::READ).map(|d| d.get_type()));
        show("open ..", open(root, "..", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open absolute", open(root, "/raw", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open empty path", open(root, "", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("create with trailing slash", open(root, "newdir/", OpenFlags::CREATE, rw).map(|_| ()));
        // Directories and entries.
        show("mkdir sub", root.create_directory_at("sub"));
        show("mkdir sub/", root.create_directory_at("sub2/"));
        show("mkdir .", root.create_directory_at("."));
        show("rmdir .", root.remove_directory_at("."));
        show("rmdir sub2/", root.remove_directory_at("sub2/"));
        show("unlink sub", root.unlink_file_at("sub"));
        show("unlink sub/", root.unlink_file_at("sub/"));
        show("rmdir missing/", root.remove_directory_at("missing/"));
        show("rmdir raw/", root.remove_directory_at("raw/"));
        show("rmdir raw", root.remove_directory_at("raw"));
        show("mkdir sub3", root.create_directory_at("sub3"));
        show("rename sub3/ -> sub4/", root.rename_at("sub3/", root, "sub4/"));
        show("rename raw/ -> x", root.rename_at("raw/", root, "x"));
        show("rename raw -> x/", root.rename_at("raw", root, "x/"));
        show("rmdir sub4", root.remove_directory_at("sub4"));
        show("symlink at x/", root.symlink_at("raw", "x/"));
        show("link raw/ -> x", root.link_at(PathFlags::empty(), "raw/", root, "x"));
        show("link raw -> x/", root.link_at(PathFlags::empty(), "raw", root, "x/"));
        show("stat raw/", root.stat_at(PathFlags::empty(), "raw/").map(|s| s.type_));
        show("stat sub/.", root.stat_at(PathFlags::empty(), "sub/.").map(|s| s.type_));
        show("stat sub/..", root.stat_at(PathFlags::empty(), "sub/..").map(|s| s.type_));
        show("unlink raw/", root.unlink_file_at("raw/"));
        show("stat-at sub", root.stat_at(PathFlags::empty(), "sub").map(|s| (s.type_, s.link_count)));
        show("stat-at missing", root.stat_at(PathFlags::empty(), "missing").map(|_| ()));
        if let Ok(sub) = open(root, "sub", OpenFlags::DIRECTORY, DescriptorFlags::READ) {
            show("sub ..", open(&sub, "..", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
            show("sub ../raw", open(&sub, "../raw", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
            show("rename across descriptors", root.rename_at("raw", &sub, "moved"));
            show("rename back", sub.rename_at("moved", root, "raw"));
            show("dir op on a file descriptor", f.create_directory_at("x"));
        }
        // Symbolic links.
        show("symlink to raw", root.symlink_at("raw", "link"));
        show("symlink absolute", root.symlink_at("/etc/passwd", "abs"));
        show("symlink existing", root.symlink_at("raw", "link"));
        show("symlink dangling", root.symlink_at("nowhere", "dangling"));
        show("symlink loop", root.symlink_at("loop", "loop"));
        show("symlink up", root.symlink_at("../up", "up"));
        show("symlink to sub", root.symlink_at("sub", "sublink"));
        show("readlink link", root.readlink_at("link"));
        show("readlink raw", root.readlink_at("raw"));
        show("readlink sublink/", root.readlink_at("sublink/"));
        show("readlink link/", root.readlink_at("link/"));
        show("readlink missing", root.readlink_at("missing"));
        show("stat link follow", root.stat_at(PathFlags::SYMLINK_FOLLOW, "link").map(|s| s.type_));
        show("stat link nofollow", root.stat_at(PathFlags::empty(), "link").map(|s| s.type_));
        show("open link", root.open_at(PathFlags::SYMLINK_FOLLOW, "link", OpenFlags::empty(), DescriptorFlags::READ).map(|d| d.get_type()));
        show("open link nofollow", open(root, "link", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open dangling", root.open_at(PathFlags::SYMLINK_FOLLOW, "dangling", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open loop", root.open_at(PathFlags::SYMLINK_FOLLOW, "loop", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open up", root.open_at(PathFlags::SYMLINK_FOLLOW, "up", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open through sublink", root.open_at(PathFlags::SYMLINK_FOLLOW, "sublink/..", OpenFlags::empty(), DescriptorFlags::READ).map(|d| d.get_type()));
        show("open link/ (a file)", root.open_at(PathFlags::empty(), "link/", OpenFlags::empty(), DescriptorFlags::READ).map(|_| ()));
        show("open sublink/", root.open_at(PathFlags::empty(), "sublink/", OpenFlags::empty(), DescriptorFlags::READ).map(|d| d.get_type()));
        show("create through dangling", root.open_at(PathFlags::SYMLINK_FOLLOW, "dangling", OpenFlags::CREATE, rw).map(|_| ()));
        show("stat created target", root.stat_at(PathFlags::empty(), "nowhere").map(|s| s.type_));
        show("link-at follow", root.link_at(PathFlags::SYMLINK_FOLLOW, "raw", root, "hard"));
        show("link-at", root.link_at(PathFlags::empty(), "raw", root, "hard"));
        show("link count", root.stat_at(PathFlags::empty(), "raw").map(|s| s.link_count));
        show("unlink link", root.unlink_file_at("link"));
        show("raw still there", root.stat_at(PathFlags::empty(), "raw").map(|s| s.type_));
        show("rename link over a dir", root.rename_at("sublink", root, "sub"));
        show("unlink sublink/", root.unlink_file_at("sublink/"));
        // Listings.
        match root.read_directory() {
            Ok(stream) => {
                let mut names = Vec::new();
                while let Ok(Some(e)) = stream.read_directory_entry() {
                    names.push(format!("{}:{:?}", e.name, e.type_));
                }
                names.sort();
                println!("raw listing: {names:?}");
            }
            Err(e) => println!("read-directory: err {}", e.name()),
        }
        show("read-directory of a file", f.read_directory().map(|_| ()));
        edges(root);
    }

    fn at(seconds: u64, nanoseconds: u32) -> NewTimestamp {
        NewTimestamp::Timestamp(wasi::clocks::wall_clock::Datetime { seconds, nanoseconds })
    }

    /// Odd inputs: times and offsets past what the kernel holds, a directory removed
    /// under its descriptor, trailing slashes on symbolic links, long link targets.
    fn edges(root: &Descriptor) {
        println!("== raw edges");
        let rw = DescriptorFlags::READ | DescriptorFlags::WRITE;
        show("mkdir edges", root.create_directory_at("edges"));
        let Ok(e) = open(root, "edges", OpenFlags::DIRECTORY, DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY) else {
            return;
        };
        let Ok(f) = open(&e, "f", OpenFlags::CREATE, rw) else { return };
        show("set-times u64::MAX", f.set_times(at(u64::MAX, u32::MAX), NewTimestamp::NoChange));
        show("set-times 2^63", f.set_times(NewTimestamp::NoChange, at(1 << 63, 0)));
        show("set-times nanoseconds carry", f.set_times(NewTimestamp::NoChange, at(1000, 1_500_000_000)));
        show("mtime after the carry", f.stat().map(|s| s.data_modification_timestamp));
        show("set-size past i64", f.set_size(1 << 63));
        show("write ending past i64", f.write(b"abc", u64::MAX - 1));
        show("read past i64", f.read(4, 1 << 63));
        show("size after", f.stat().map(|s| s.size));
        match f.write_via_stream(0) {
            Ok(out) => show("file check-write", out.check_write().map_err(|_| ErrorCode::Io)),
            Err(err) => println!("write-via-stream: err {}", err.name()),
        }
        // A directory removed while a descriptor holds it takes no new entries.
        show("mkdir gone", e.create_directory_at("gone"));
        if let Ok(gone) = open(&e, "gone", OpenFlags::DIRECTORY, DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY) {
            show("rmdir gone", e.remove_directory_at("gone"));
            show("create in gone", open(&gone, "f", OpenFlags::CREATE, rw).map(|_| ()));
            show("mkdir in gone", gone.create_directory_at("sub"));
            show("symlink in gone", gone.symlink_at("x", "l"));
            show("link into gone", e.link_at(PathFlags::empty(), "f", &gone, "f"));
            show("rename into gone", e.rename_at("f", &gone, "f"));
            show("stat gone", gone.stat().map(|s| (s.type_, s.link_count)));
            show("list gone", gone.read_directory().map(|d| d.read_directory_entry().map(|e| e.is_none())));
        }
        // Trailing slashes name a symbolic link's target only where it is followed.
        show("mkdir d", e.create_directory_at("d"));
        show("mkdir empty", e.create_directory_at("empty"));
        show("symlink l -> d", e.symlink_at("d", "l"));
        show("symlink l3 -> empty", e.symlink_at("empty", "l3"));
        show("symlink dang -> nowhere", e.symlink_at("nowhere", "dang"));
        show("symlink lf -> f", e.symlink_at("f", "lf"));
        show("rename l/ -> m", e.rename_at("l/", &e, "m"));
        show("rename f -> l3/", e.rename_at("f", &e, "l3/"));
        show("mkdir dang/", e.create_directory_at("dang/"));
        show("mkdir lf/", e.create_directory_at("lf/"));
        show("mkdir l/", e.create_directory_at("l/"));
        show("create dang/", open(&e, "dang/", OpenFlags::CREATE, rw).map(|_| ()));
        show("unlink l/", e.unlink_file_at("l/"));
        show("rmdir l/", e.remove_directory_at("l/"));
        show("link f -> l/", e.link_at(PathFlags::empty(), "f", &e, "l/"));
        show("symlink at l/", e.symlink_at("f", "l/"));
        show("d is still there", e.stat_at(PathFlags::empty(), "d").map(|s| s.type_));
        show("empty is still there", e.stat_at(PathFlags::empty(), "empty").map(|s| s.type_));
        show("m was not made", e.stat_at(PathFlags::empty(), "m").map(|s| s.type_));
        show("nowhere was not made", e.stat_at(PathFlags::empty(), "nowhere").map(|s| s.type_));
        // Link targets.
        show("symlink target of 4095", e.symlink_at(&"t".repeat(4095), "long"));
        show("symlink target of 4096", e.symlink_at(&"t".repeat(4096), "longer"));
        show("symlink target of 5000", e.symlink_at(&"t".repeat(5000), "longest"));
        show("readlink long", e.readlink_at("long").map(|t| t.len()));
        show("symlink empty target", e.symlink_at("", "empty-target"));
        show("symlink target with NUL", e.symlink_at("a\0b", "nul-target"));
    }
}
