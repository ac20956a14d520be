"""Files as a Python program uses them (os and open, through CPython's libc):
each operation's result is printed. simnet's tests run it on a simulated disk and
on wasmtime-wasi over a real directory, both mounted as /data, and require the same
output."""

import errno
import os
import sys

from wit_world import exports

sys.stdout.reconfigure(line_buffering=True)

D = "/data"


def p(name):
    return f"{D}/{name}"


def show(what, f):
    try:
        print(f"{what}: ok {f()!r}")
    except OSError as e:
        print(f"{what}: {type(e).__name__} {errno.errorcode.get(e.errno, e.errno)}")


def read(name):
    with open(p(name), "rb") as f:
        return f.read()


def write(name, data, mode="wb"):
    with open(p(name), mode) as f:
        return f.write(data)


def listing(path):
    entries = []
    for e in os.scandir(path):
        kind = "link" if e.is_symlink() else "dir" if e.is_dir(follow_symlinks=False) else "file"
        entries.append(f"{e.name}:{kind}")
    return sorted(entries)


def files():
    print("== files")
    show("write a.txt", lambda: write("a.txt", b"hello"))
    show("read a.txt", lambda: read("a.txt"))
    show("append", lambda: write("a.txt", b" world", "ab"))
    show("read a.txt", lambda: read("a.txt"))
    show("size", lambda: os.stat(p("a.txt")).st_size)
    show("truncate 3", lambda: os.truncate(p("a.txt"), 3))
    show("read a.txt", lambda: read("a.txt"))
    show("truncate 8", lambda: os.truncate(p("a.txt"), 8))
    show("read a.txt", lambda: read("a.txt"))

    def seek_write():
        with open(p("a.txt"), "r+b") as f:
            f.seek(20)
            f.write(b"tail")
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            return f.read()

    show("seek, write, fsync, read", seek_write)
    show("exclusive create of an existing file", lambda: open(p("a.txt"), "xb").close())
    show("exclusive create", lambda: open(p("fresh"), "xb").close())
    big = bytes((i * 7) % 251 for i in range(1 << 20))
    show("write 1 MiB", lambda: write("big", big))
    show("read 1 MiB back", lambda: read("big") == big)

    def unlinked():
        write("doomed", b"still here")
        with open(p("doomed"), "rb") as f:
            os.remove(p("doomed"))
            return f.read()

    show("read an unlinked open file", unlinked)
    show("read the unlinked name", lambda: read("doomed"))


def dirs():
    print("== dirs")
    show("mkdir d", lambda: os.mkdir(p("d")))
    show("mkdir d again", lambda: os.mkdir(p("d")))
    show("makedirs d/e/f", lambda: os.makedirs(p("d/e/f")))
    show("write d/e/x", lambda: write("d/e/x", b"x"))
    show("listing d", lambda: listing(p("d")))
    show("rmdir d (not empty)", lambda: os.rmdir(p("d")))
    show("rmdir a file", lambda: os.rmdir(p("a.txt")))
    show("remove a dir", lambda: os.remove(p("d")))
    show("rename d/e/x -> d/y", lambda: os.rename(p("d/e/x"), p("d/y")))
    write("over", b"new")
    write("target", b"old")
    show("replace over an existing file", lambda: os.replace(p("over"), p("target")))
    show("read target", lambda: read("target"))
    show("read over", lambda: read("over"))
    show("mkdir empty", lambda: os.mkdir(p("empty")))
    show("rename a dir over a non-empty dir", lambda: os.rename(p("empty"), p("d")))
    show("rename a file over a dir", lambda: os.rename(p("target"), p("d")))
    show("rename a dir into itself", lambda: os.rename(p("d"), p("d/e/inside")))
    show("link target -> linked", lambda: os.link(p("target"), p("linked")))
    show("link count", lambda: os.stat(p("linked")).st_nlink)
    show("remove target", lambda: os.remove(p("target")))
    show("read linked", lambda: read("linked"))
    show("symlink linked -> sym", lambda: os.symlink("linked", p("sym")))
    show("readlink sym", lambda: os.readlink(p("sym")))
    show("read through sym", lambda: read("sym"))
    show("lstat sym is a link", lambda: os.path.islink(p("sym")))
    show("symlink to an absolute path", lambda: os.symlink("/etc/passwd", p("abs")))
    show("symlink loop", lambda: os.symlink("loop", p("loop")))
    show("read a loop", lambda: read("loop"))
    show("listing", lambda: listing(D))


def errors():
    print("== errors")
    show("open missing", lambda: read("missing"))
    show("open file/", lambda: read("linked/"))
    show("open a dir for writing", lambda: open(p("empty"), "wb").close())
    show("read a dir", lambda: read("empty"))
    show("create in a missing dir", lambda: write("nowhere/x", b"x"))
    show("a name too long", lambda: write("n" * 256, b"x"))
    show("stat ..", lambda: os.stat(p("../..")).st_size >= 0)
    show("listdir a file", lambda: os.listdir(p("linked")))


class Run(exports.Run):
    def run(self) -> None:
        files()
        dirs()
        errors()
        print(f"listing at the end: {listing(D)}")
        print("== done")
