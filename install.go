package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/text2agent/tfstate-guard/report"
)

// InstallTarget is where mode install puts the binary.
type InstallTarget struct {
	// Dir is the folder as this process sees it (in the action's
	// container: /github/runner_temp/...).
	Dir string
	// PathEntry is the same folder as the job's later steps see it, for
	// GITHUB_PATH, whose lines the runner does not translate.
	PathEntry string
}

// containerRunnerTemp is where actions/runner mounts the runner's temp
// directory in a Docker action's container (ContainerActionHandler).
const containerRunnerTemp = "/github/runner_temp"

// installSubdir is the folder install uses inside the runner's temp directory.
const installSubdir = "tfstate-guard/bin"

// fillInstall resolves install-dir. Inside the action's container the
// runner's temp directory is mounted at /github/runner_temp, and every
// variable naming it is translated to that path; the host path later
// steps need is <runner work folder>/_temp (HostContext: Temp = Work +
// "_temp"), and RUNNER_WORKSPACE (<work>/<repository>, not translated: no
// mount starts it) names the work folder.
func (cfg *Config) fillInstall(s settings, getenv func(string) string, bad badFunc) {
	if dir := s["install-dir"]; dir != "" {
		if !filepath.IsAbs(dir) {
			bad("install-dir", dir, "is not an absolute path: give the folder in full, for example /home/me/.local/bin")
			return
		}
		cfg.Install = InstallTarget{Dir: dir, PathEntry: dir}
		return
	}
	temp := getenv("RUNNER_TEMP")
	if temp == containerRunnerTemp {
		ws := getenv("RUNNER_WORKSPACE")
		if ws == "" || !filepath.IsAbs(ws) {
			bad("install-dir", "", "is empty and the runner's temp directory cannot be named outside this container (RUNNER_WORKSPACE %q): set install-dir to a folder later steps see", ws)
			return
		}
		cfg.Install = InstallTarget{Dir: filepath.Join(containerRunnerTemp, installSubdir),
			PathEntry: filepath.Join(filepath.Dir(ws), "_temp", installSubdir)}
		return
	}
	if temp == "" {
		bad("install-dir", "", "is empty and RUNNER_TEMP is not set (not in a GitHub Actions job): give the folder, for example --install-dir ~/.local/bin")
		return
	}
	cfg.Install = InstallTarget{Dir: filepath.Join(temp, installSubdir), PathEntry: filepath.Join(temp, installSubdir)}
}

// install copies this very binary into the install folder (a new file
// renamed into place, so a step running the old one is undisturbed) and
// adds the folder to PATH for later steps.
func (a *app) install() (int, error) {
	self, err := os.Executable()
	if err != nil {
		return exitFailure, fmt.Errorf("find this binary to copy: %w", err)
	}
	t := a.cfg.Install
	if err := os.MkdirAll(t.Dir, 0o755); err != nil {
		return exitFailure, fmt.Errorf("create install-dir %q: %w", t.Dir, err)
	}
	dst := filepath.Join(t.Dir, "tfstate-guard")
	if err := copyExecutable(self, dst); err != nil {
		return exitFailure, err
	}
	fmt.Fprintf(a.stdout, "installed %s (on PATH for later steps as %s)\n", dst, filepath.Join(t.PathEntry, "tfstate-guard"))
	if a.cfg.Runner.Path != "" {
		f, err := os.OpenFile(a.cfg.Runner.Path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return exitFailure, fmt.Errorf("add %s to PATH (GITHUB_PATH): %w", t.PathEntry, err)
		}
		_, werr := fmt.Fprintln(f, t.PathEntry)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return exitFailure, fmt.Errorf("add %s to PATH (GITHUB_PATH): %w", t.PathEntry, werr)
		}
	}
	return a.finish([]report.Pair{{Name: "TFSTATE_GUARD_PATH", Value: filepath.Join(t.PathEntry, "tfstate-guard")}}, "")
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tfstate-guard-*")
	if err != nil {
		return fmt.Errorf("write into %s: %w", filepath.Dir(dst), err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
