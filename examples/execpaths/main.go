// execpaths runs children the way `go run`, `go test` and generated
// scripts do: a copy of itself in a temporary directory started by a
// relative path from that directory, and a temporary `#!` shell script;
// both are deleted before the program ends, so replay cannot exec them by
// their recorded paths.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		wd, _ := os.Getwd()
		fmt.Printf("child: args %q, in %s\n", os.Args[1:], filepath.Base(wd))
		os.Exit(3)
	}
	dir, err := os.MkdirTemp("", "execpaths")
	if err != nil {
		panic(err)
	}
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "copy"), data, 0o755); err != nil {
		panic(err)
	}
	cmd := exec.Command("./copy", "child", "x")
	cmd.Dir = dir
	out, err := cmd.Output()
	fmt.Printf("relative copy: %q, %v\n", out, err)

	script := filepath.Join(dir, "gen.sh")
	body := "#!/bin/sh\necho \"script: $# args: $*\"\nexit 5\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		panic(err)
	}
	out, err = exec.Command(script, "a", "b").CombinedOutput()
	fmt.Printf("script: %q, %v\n", strings.TrimSpace(string(out)), err)

	// A path that does not exist now may exist at replay: the failure is replayed.
	_, err = exec.Command(filepath.Join(dir, "missing")).Output()
	fmt.Printf("missing: %v\n", err != nil)
	os.RemoveAll(dir)
}
