// Files as a Go program uses them (package os, through wasip1 and wasmtime's
// preview1 adapter): each operation's result is printed. simnet's tests run it on a
// simulated disk and on wasmtime-wasi over a real directory, both mounted as /data,
// and require the same output.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"syscall"
)

const d = "/data"

func p(name string) string { return d + "/" + name }

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Sprintf("err %d", int(errno))
	}
	return "err " + err.Error()
}

func show(what string, err error) { fmt.Printf("%s: %s\n", what, errText(err)) }

func read(name string) string {
	b, err := os.ReadFile(p(name))
	if err != nil {
		return errText(err)
	}
	return fmt.Sprintf("%q", b)
}

func listing(path string) string {
	entries, err := os.ReadDir(path)
	if err != nil {
		return errText(err)
	}
	var names []string
	for _, e := range entries {
		kind := "file"
		if e.Type()&fs.ModeSymlink != 0 {
			kind = "link"
		} else if e.IsDir() {
			kind = "dir"
		}
		names = append(names, e.Name()+":"+kind)
	}
	sort.Strings(names)
	return "[" + strings.Join(names, " ") + "]"
}

func files() {
	fmt.Println("== files")
	show("write a.txt", os.WriteFile(p("a.txt"), []byte("hello"), 0o644))
	fmt.Println("read a.txt:", read("a.txt"))
	f, err := os.OpenFile(p("a.txt"), os.O_APPEND|os.O_WRONLY, 0)
	show("open for append", err)
	if err == nil {
		_, err = f.Write([]byte(" world"))
		show("append", err)
		f.Close()
	}
	fmt.Println("read a.txt:", read("a.txt"))
	show("truncate 3", os.Truncate(p("a.txt"), 3))
	fmt.Println("read a.txt:", read("a.txt"))
	show("truncate 8", os.Truncate(p("a.txt"), 8))
	fmt.Println("read a.txt:", read("a.txt"))
	f, err = os.OpenFile(p("a.txt"), os.O_RDWR, 0)
	show("open rw", err)
	if err == nil {
		_, err = f.WriteAt([]byte("tail"), 20)
		show("write at 20", err)
		show("sync", f.Sync())
		_, err = f.Seek(0, io.SeekStart)
		show("seek 0", err)
		b, err := io.ReadAll(f)
		fmt.Printf("read all: %q %s\n", b, errText(err))
		info, err := f.Stat()
		if err == nil {
			fmt.Println("stat size:", info.Size(), "regular:", info.Mode().IsRegular())
		}
		f.Close()
	}
	_, err = os.OpenFile(p("a.txt"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	show("exclusive create of an existing file", err)
	// Kept small: Go's heap cannot grow past memory the preview1 adapter took.
	big := make([]byte, 60_000)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	show("write 60 kB", os.WriteFile(p("big"), big, 0o644))
	back, err := os.ReadFile(p("big"))
	fmt.Println("read 60 kB back:", string(back) == string(big), errText(err))
	os.WriteFile(p("doomed"), []byte("still here"), 0o644)
	f, err = os.Open(p("doomed"))
	show("open doomed", err)
	if err == nil {
		show("remove doomed", os.Remove(p("doomed")))
		b, err := io.ReadAll(f)
		fmt.Printf("read unlinked: %q %s\n", b, errText(err))
		f.Close()
	}
	fmt.Println("doomed gone:", read("doomed"))
}

func dirs() {
	fmt.Println("== dirs")
	show("mkdir d", os.Mkdir(p("d"), 0o755))
	show("mkdir d again", os.Mkdir(p("d"), 0o755))
	show("mkdir -p d/e/f", os.MkdirAll(p("d/e/f"), 0o755))
	show("write d/e/x", os.WriteFile(p("d/e/x"), []byte("x"), 0o644))
	fmt.Println("listing d:", listing(p("d")))
	show("remove d (not empty)", syscall.Rmdir(p("d")))
	show("unlink a dir", syscall.Unlink(p("d")))
	show("rename d/e/x -> d/y", os.Rename(p("d/e/x"), p("d/y")))
	os.WriteFile(p("over"), []byte("new"), 0o644)
	os.WriteFile(p("target"), []byte("old"), 0o644)
	show("rename over an existing file", os.Rename(p("over"), p("target")))
	fmt.Println("read target:", read("target"))
	fmt.Println("read over:", read("over"))
	show("mkdir empty", os.Mkdir(p("empty"), 0o755))
	show("rename a dir over a non-empty dir", os.Rename(p("empty"), p("d")))
	show("rename a file over a dir", os.Rename(p("target"), p("d")))
	show("rename a dir into itself", os.Rename(p("d"), p("d/e/inside")))
	show("link target -> linked", os.Link(p("target"), p("linked")))
	show("remove target", os.Remove(p("target")))
	fmt.Println("read linked:", read("linked"))
	show("symlink linked -> sym", os.Symlink("linked", p("sym")))
	target, err := os.Readlink(p("sym"))
	fmt.Printf("readlink sym: %q %s\n", target, errText(err))
	fmt.Println("read through sym:", read("sym"))
	info, err := os.Lstat(p("sym"))
	if err == nil {
		fmt.Println("lstat sym is a link:", info.Mode()&fs.ModeSymlink != 0)
	}
	show("symlink loop", os.Symlink("loop", p("loop")))
	fmt.Println("read a loop:", read("loop"))
	show("remove all d", os.RemoveAll(p("d")))
	fmt.Println("listing:", listing(d))
}

func errs() {
	fmt.Println("== errors")
	fmt.Println("open missing:", read("missing"))
	fmt.Println("open file/:", read("linked/"))
	_, err := os.OpenFile(p("empty"), os.O_WRONLY, 0)
	show("open a dir for writing", err)
	fmt.Println("read a dir:", read("empty"))
	show("create in a missing dir", os.WriteFile(p("nowhere/x"), []byte("x"), 0o644))
	show("a name too long", os.WriteFile(p(strings.Repeat("n", 256)), []byte("x"), 0o644))
	_, err = os.ReadDir(p("linked"))
	show("list a file", err)
}

func main() {
	files()
	dirs()
	errs()
	fmt.Println("listing at the end:", listing(d))
	fmt.Println("== done")
}
